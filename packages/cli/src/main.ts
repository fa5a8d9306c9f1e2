// strata: the command line. `strata <group> <command> [args] [--json]`; exit 0 on success, 1 on a
// failure (one line on stderr: code and reason), 2 on a usage error, 3 on a job that cannot be used.
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

export async function main(argv: string[], io: Io, signal: AbortSignal = processSignal()): Promise<number> {
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
    return command.exitCode?.(result) ?? 0
  } catch (error) {
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

function processSignal(): AbortSignal {
  const controller = new AbortController()
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.once(name, () => controller.abort(new Error(`interrupted by ${name}`)))
  }
  return allowManyListeners(controller.signal) // every chunk read or write of a command listens
}
