// strata: the command line. `strata <group> <command> [args] [--json]`; exit 0 on success, 1 on a
// failure (one line on stderr: code and reason), 2 on a usage error, 3 on a job that cannot be used,
// 130 when interrupted (Ctrl-C).
import { parseArgs } from 'node:util'
import { formatProblem, type Problem } from '@strata/contract'
import { allowManyListeners, errorCode, errorMessage, StrataError } from '@strata/core'
import { UsageError, type Command, type CommandContext } from './command.js'
import { commands } from './commands/index.js'

/** A job (file or inline) that cannot be used, whatever the cause: unreadable, not JSON or invalid. */
export const EXIT_INVALID_JOB = 3

export interface Io {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** Runs one command; without a signal of its own, SIGINT and SIGTERM stop it (until it ends). */
export async function main(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  if (signal !== undefined) return runCommand(argv, io, signal)
  const stop = processSignal()
  try {
    return await runCommand(argv, io, stop.signal)
  } finally {
    stop.release()
  }
}

async function runCommand(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  if (argv[0] === '--version') argv = ['version', ...argv.slice(1)]
  const json = argv.includes('--json')
  try {
    const command = findCommand(argv)
    if (command === undefined) {
      if (argv.length === 0 || argv.includes('--help') || argv[0] === 'help') {
        io.stdout.write(helpText())
        return 0
      }
      throw new UsageError(
        `unknown command '${argv.filter((a) => !a.startsWith('-')).join(' ')}'; see 'strata help'`,
      )
    }
    const rest = argv.slice(command.path.length)
    if (rest.includes('--help')) {
      io.stdout.write(`usage: strata ${command.usage}\n${command.summary}\n`)
      return 0
    }
    const args = parse(command, rest)
    const ctx: CommandContext = { ...io, signal, json }
    const result = await command.run(args, ctx)
    if (json) io.stdout.write(`${JSON.stringify(result)}\n`)
    else if (command.format !== undefined) io.stdout.write(ensureNewline(command.format(result)))
    const code = command.exitCode?.(result) ?? 0
    // A command that ends on its own when stopped (a server) exits 0; one cut short says why.
    return code !== 0 && signal.aborted ? interrupted(io, false, signal.reason) : code
  } catch (error) {
    // Whatever a cancelled command failed with (an abort wrapped in its callers' errors) says nothing
    // the user does not know: they stopped it.
    if (signal.aborted) return interrupted(io, json, signal.reason)
    const usage = error instanceof UsageError || errorCode(error).startsWith('ERR_PARSE_ARGS')
    const line = errorMessage(error).split('\n')[0]
    const problems = problemsOf(error)
    const code = usage ? 'USAGE' : errorCode(error)
    if (json) io.stdout.write(`${JSON.stringify({ error: { code, message: line, ...problems } })}\n`)
    io.stderr.write(`strata: ${usage ? '' : `[${code}] `}${line}\n`)
    for (const p of problems.problems ?? []) io.stderr.write(`  ${formatProblem(p)}\n`)
    return usage ? 2 : code === 'INVALID_JOB' ? EXIT_INVALID_JOB : 1
  }
}

/** Every problem of an invalid job (each with its path), printed in full rather than the first line. */
function problemsOf(error: unknown): { problems?: Problem[] } {
  const problems = error instanceof StrataError ? error.details.problems : undefined
  return Array.isArray(problems) ? { problems: problems as Problem[] } : {}
}

function findCommand(argv: string[]): Command | undefined {
  const words = argv.filter((a) => !a.startsWith('-'))
  return commands
    .filter((c) => c.path.every((w, i) => words[i] === w && argv[i] === w))
    .sort((a, b) => b.path.length - a.path.length)[0]
}

function parse(command: Command, rest: string[]) {
  const { values, positionals } = parseArgs({
    args: rest,
    options: { ...command.options, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  })
  const [min, max] =
    typeof command.positionals === 'number' ? [command.positionals, command.positionals] : command.positionals
  if (positionals.length < min || positionals.length > max) {
    throw new UsageError(`usage: strata ${command.usage}`)
  }
  return { values, positionals }
}

function helpText(): string {
  const lines = commands.map((c) => `  strata ${c.usage}\n      ${c.summary}`)
  return `Strata: backups for XCP-ng and XenServer.\n\nCommands (all take --json):\n${lines.join('\n')}\n`
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`
}

/** The abort reason of a command stopped by a signal: what to say and the exit code (128 + signal). */
export class Interrupted extends StrataError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('INTERRUPTED', message)
  }
}

/** `jsonError`: the command printed no result, so --json gets an error object instead. */
function interrupted(io: Io, jsonError: boolean, reason: unknown): number {
  const { message, exitCode } =
    reason instanceof Interrupted ? reason : new Interrupted('interrupted by the user', 130)
  if (jsonError) io.stdout.write(`${JSON.stringify({ error: { code: 'INTERRUPTED', message } })}\n`)
  io.stderr.write(`strata: ${message}\n`)
  return exitCode
}

/** A signal that SIGINT or SIGTERM aborts; `release` removes the process listeners again. */
function processSignal(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController()
  const onInt = () => controller.abort(new Interrupted('interrupted by the user', 130))
  const onTerm = () => controller.abort(new Interrupted('stopped by SIGTERM', 143))
  process.once('SIGINT', onInt)
  process.once('SIGTERM', onTerm)
  return {
    signal: allowManyListeners(controller.signal), // every chunk read or write of a command listens
    release: () => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
    },
  }
}
