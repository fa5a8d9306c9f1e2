// One line of `strata server --check-config`: what was checked, and what was found.
export type FindingStatus = 'ok' | 'warning' | 'error'

export interface ConfigFinding {
  readonly status: FindingStatus
  /** What was checked: 'config file', 'data directory', 'secret key', 'listen', 'tls', 'metrics', 'web UI'. */
  readonly what: string
  readonly detail: string
}
