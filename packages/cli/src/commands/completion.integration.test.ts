// The completion scripts run in the real shells: bash's completion function is called as bash calls it
// (COMP_WORDS/COMP_CWORD, then COMPREPLY), and every command of the table completes its flags; zsh's
// script passes `zsh -n` and its function walks the same words (compadd and _files, which only exist
// inside a completion widget, are replaced by printers).
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { runCli } from '../testing/cli-harness.js'
import { commands } from './index.js'

const run = promisify(execFile)

const BASH_DRIVER = `source "$1" || exit 9
complete -p strata >/dev/null || exit 8
shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_strata
printf '%s\\n' "\${COMPREPLY[@]}"`

const ZSH_DRIVER = `compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" }
_files() { print -- '<files>' }
compdef() { print -- "compdef $*" >&2 }
source "$1" || exit 9
shift
words=("$@"); CURRENT=$#
_strata`

describe('strata completion', () => {
  let scratch: Scratch
  let bashScript: string
  let zshScript: string
  beforeAll(async () => {
    requireBinary('bash')
    requireBinary('zsh')
    scratch = await scratchDir('strata-completion-')
    for (const shell of ['bash', 'zsh']) {
      const { code, out } = await runCli(['completion', shell])
      expect(code).toBe(0)
      await writeFile(scratch.path(`strata.${shell}`), out)
    }
    bashScript = scratch.path('strata.bash')
    zshScript = scratch.path('strata.zsh')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  /** What bash offers for the command line `words` (the last one is the word being completed). */
  async function bash(...words: string[]): Promise<string[]> {
    const { stdout } = await run('bash', [
      '--noprofile',
      '--norc',
      '-c',
      BASH_DRIVER,
      'driver',
      bashScript,
      'strata',
      ...words,
    ])
    return stdout.split('\n').filter((l) => l !== '')
  }

  async function zsh(...words: string[]): Promise<string[]> {
    const { stdout } = await run('zsh', ['-f', '-c', ZSH_DRIVER, 'driver', zshScript, 'strata', ...words])
    return stdout.split('\n').filter((l) => l !== '')
  }

  it('bash completes commands, subcommands, flags and their values', async () => {
    expect(await bash('')).toEqual(
      expect.arrayContaining(['repo', 'server', 'completion', 'version', 'help']),
    )
    expect(await bash('re')).toEqual(['repo', 'replicate', 'restore'])
    expect(await bash('repo', 'key', '')).toEqual(['add', 'list', 'remove'])
    expect(await bash('server', '--c')).toEqual(['--config', '--check-config'])
    expect(await bash('server', '--tls', '')).toEqual(['self-signed'])
    expect(await bash('completion', '')).toEqual(['bash', 'zsh'])
    expect(await bash('--v')).toEqual(['--version'])
    // a flag's value is skipped, so the walk still knows the command
    expect(await bash('repo', 'init', '--repo', '/srv/r', '--enc')).toEqual(['--encrypt'])
  })

  it('bash completes files where a command or a flag takes a path', async () => {
    await mkdir(scratch.path('files'), { recursive: true })
    await writeFile(scratch.path('files/strata.toml'), '')
    const prefix = scratch.path('files/str')
    expect(await bash('server', '--config', prefix)).toEqual([scratch.path('files/strata.toml')])
    expect(await bash('vhd', 'info', prefix)).toEqual([scratch.path('files/strata.toml')])
  })

  it('bash offers every flag of every command in the table', async () => {
    const top = new Set(commands.map((c) => c.path[0]))
    expect(new Set(await bash(''))).toEqual(new Set([...top, 'help']))
    for (const command of commands) {
      const expected = [...Object.keys(command.options ?? {}), 'json', 'help'].map((o) => `--${o}`)
      expect((await bash(...command.path, '--')).sort(), command.path.join(' ')).toEqual(expected.sort())
    }
  })

  it('zsh reads its script and completes the same words', async () => {
    await run('zsh', ['-n', zshScript])
    expect(await zsh('re')).toEqual(expect.arrayContaining(['repo', 'restore']))
    expect(await zsh('repo', 'key', '')).toEqual(['add', 'list', 'remove'])
    expect(await zsh('server', '--tls', '')).toEqual(['self-signed'])
    expect(await zsh('server', '--config', '')).toEqual(['<files>'])
    expect(await zsh('repo', 'init', '--repo', '/srv/r', '--')).toEqual(
      expect.arrayContaining(['--encrypt', '--repo', '--json']),
    )
    expect(await zsh('completion', '')).toEqual(['bash', 'zsh'])
  })

  it('refuses a shell it does not know', async () => {
    const { code, err } = await runCli(['completion', 'fish'])
    expect(code).toBe(2)
    expect(err).toContain("completion is for bash or zsh, not 'fish'")
  })
})
