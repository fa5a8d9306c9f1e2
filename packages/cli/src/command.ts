// The shape of one CLI command. Commands are plain objects registered in commands/index.ts: they parse
// nothing themselves (main does, from `options`), return a JSON-able result, and render it for humans.
import type { ParseArgsConfig } from 'node:util'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export interface CommandContext {
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  readonly signal: AbortSignal
  /** True when --json was given: the command must not print anything itself besides progress on stderr. */
  readonly json: boolean
}

export interface ParsedArgs {
  readonly positionals: string[]
  readonly values: Record<string, string | boolean | string[] | boolean[] | undefined>
}

export interface Command<R = unknown> {
  /** Words that select the command, e.g. ['vhd', 'info']. */
  readonly path: readonly string[]
  readonly usage: string
  readonly summary: string
  readonly options?: OptionSpec
  /** Number of positional arguments: exact, or [min, max]. */
  readonly positionals: number | readonly [number, number]
  /** What shell completion offers: an option's values by its name, the positional arguments' under ''. */
  readonly choices?: Readonly<Record<string, readonly string[]>>
  run(args: ParsedArgs, ctx: CommandContext): Promise<R>
  /** Human-readable rendering of the result; omitted for commands whose result speaks for itself. */
  format?(result: R): string
  /** Exit code for a result that is not a plain success (e.g. a backup run with failed VMs); default 0. */
  exitCode?(result: R): number
}

/** An error the user caused (bad arguments): printed as a one-line reason, exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE'
}
