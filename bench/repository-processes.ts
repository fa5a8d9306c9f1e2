// How the repository bench runs each tool: in its own process under /usr/bin/time (wall time, CPU, peak
// memory), with the bench's secrets in the environment; Strata from the build, or from the sources
// through tsx when the build fails.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, timed as timedRun, type TimedRun } from './harness.js'

const root = fileURLToPath(new URL('..', import.meta.url))

export const env = {
  ...process.env,
  // At least 10 characters: `repo init --encrypt` refuses a shorter one (WEAK_PASSPHRASE).
  STRATA_PASSPHRASE: 'bench passphrase',
  RESTIC_PASSWORD: 'bench',
  BORG_PASSPHRASE: 'bench',
}

export type Run = TimedRun

/** Runs a command under /usr/bin/time -v, in the repository's root, with the passphrases set (and `more`). */
export function timed(command: string, args: string[], more: Record<string, string> = {}): Promise<Run> {
  return timedRun(command, args, { env: { ...env, ...more }, cwd: root })
}

/** Runs one repo command object in its own process (only the repo commands are loaded). */
const entry = (commands: string): string => `
import { parseArgs } from 'node:util'
const name = process.argv[1]
const mod = await import(${JSON.stringify(commands)} + 'repo-' + name + ${JSON.stringify(commands.includes('/dist/') ? '.js' : '.ts')})
const c = Object.values(mod)[0]
const { values, positionals } = parseArgs({ args: process.argv.slice(2), options: c.options, allowPositionals: true })
const ctx = { stdout: process.stdout, stderr: process.stderr, signal: new AbortController().signal, json: true }
process.stdout.write(JSON.stringify(await c.run({ values, positionals }, ctx)))
`
/** The built CLI when `npm run build` succeeds (as users run it); else the sources through tsx. */
let strataArgs: string[] = []

export async function chooseStrata(): Promise<string> {
  try {
    await run('npm', ['run', '--silent', 'build'])
    strataArgs = ['--input-type=module', '-e', entry(join(root, 'packages/cli/dist/commands/'))]
    return 'built CLI (packages/cli/dist)'
  } catch {
    strataArgs = [
      '--conditions=strata-source',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      entry(join(root, 'packages/cli/src/commands/')),
    ]
    return 'sources through tsx (the build failed; about 0.7 s of startup per command is counted)'
  }
}

/** One `strata repo <name>` in its own process, with `more` added to its environment. */
export function strata(name: string, args: string[], more: Record<string, string> = {}): Promise<Run> {
  return timed(process.execPath, [...strataArgs, '--', name, ...args], more)
}

export async function du(path: string): Promise<number> {
  return Number((await run('du', ['-sb', path])).split('\t')[0])
}
