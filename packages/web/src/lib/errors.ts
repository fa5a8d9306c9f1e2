import type { RunSummary } from '@strata/contract'

/** A run's error as one line, whichever form the server sent. */
export function runErrorText(run: Pick<RunSummary, 'error'>): string {
  const e = run.error
  if (e === undefined) return ''
  return typeof e === 'string' ? e : `${e.message} (${e.code})`
}
