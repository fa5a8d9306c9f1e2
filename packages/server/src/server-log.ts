// The server's own log: lines on stderr, and the same messages to syslog when configured (settings).
export type Severity = 'error' | 'warning' | 'info'

export interface LogSink {
  write(severity: Severity, message: string, app?: string): void
}

export class ServerLog {
  readonly #sinks = new Set<LogSink>()

  constructor(readonly echo: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) {}

  addSink(sink: LogSink): () => void {
    this.#sinks.add(sink)
    return () => this.#sinks.delete(sink)
  }

  info(message: string): void {
    this.write('info', message)
  }

  warn(message: string): void {
    this.write('warning', message)
  }

  error(message: string): void {
    this.write('error', message)
  }

  /** `app` names the source in syslog: 'strata' for the server, 'strata-run' for runs. */
  write(severity: Severity, message: string, app = 'strata'): void {
    this.echo(`${new Date().toISOString()} ${severity} ${message}`)
    for (const sink of this.#sinks) sink.write(severity, message, app)
  }
}
