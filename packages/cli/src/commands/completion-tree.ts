// The command table as shell completion reads it (pure): the words each level accepts, each command's
// flags, those that take a value, the values a flag or a positional is offered, and where files go.
// Keys are the words typed so far ('.' at the top, 'repo key' two levels down).
import type { Command } from '../command.js'

export const ROOT = '.'

export interface CompletionTree {
  readonly children: ReadonlyMap<string, readonly string[]>
  readonly flags: ReadonlyMap<string, readonly string[]>
  readonly valued: ReadonlyMap<string, readonly string[]>
  /** `<command>` for its positionals, `<command> --flag` for a flag's value. */
  readonly choices: ReadonlyMap<string, readonly string[]>
  /** Commands whose positionals are files (all that take positionals without choices). */
  readonly files: ReadonlySet<string>
}

/** Words that go into a script unquoted: the table's names, never anything a shell would expand. */
const WORD = /^[a-z0-9][a-z0-9.-]*$/

export function completionTree(commands: readonly Command<never>[]): CompletionTree {
  const children = new Map<string, string[]>([[ROOT, ['help']]])
  const flags = new Map<string, string[]>([[ROOT, ['--help', '--version']]])
  const valued = new Map<string, string[]>()
  const choices = new Map<string, string[]>()
  const files = new Set<string>()
  for (const command of commands) {
    command.path.forEach((word, i) => addChild(children, keyOf(command.path.slice(0, i)), checked(word)))
    const key = keyOf(command.path)
    const options = Object.entries({
      ...command.options,
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    })
    flags.set(
      key,
      options.map(([name]) => `--${checked(name)}`),
    )
    valued.set(
      key,
      options.filter(([, o]) => o.type === 'string').map(([name]) => `--${name}`),
    )
    for (const [name, values] of Object.entries(command.choices ?? {}))
      choices.set(name === '' ? key : `${key} --${checked(name)}`, values.map(checked))
    const takesPositionals =
      command.positionals !== 0 && !(Array.isArray(command.positionals) && command.positionals[1] === 0)
    if (takesPositionals && command.choices?.[''] === undefined) files.add(key)
  }
  return { children, flags, valued, choices, files }
}

function keyOf(path: readonly string[]): string {
  return path.length === 0 ? ROOT : path.join(' ')
}

function addChild(children: Map<string, string[]>, key: string, word: string): void {
  const list = children.get(key) ?? []
  if (!list.includes(word)) list.push(word)
  children.set(key, list)
}

function checked(word: string): string {
  if (!WORD.test(word)) throw new Error(`'${word}' cannot go into a completion script unquoted`)
  return word
}
