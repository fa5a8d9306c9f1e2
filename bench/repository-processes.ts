// How the repository bench runs each tool: in its own process under /usr/bin/time (wall time, CPU, peak
// memory), with the bench's secrets in the environment; Strata from the build, or from the sources
// through tsx when the build fails.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from './harness.js'

const root = fileURLToPath(new URL('..', import.meta.url))

export const env = {
  ...process.env,
  STRATA_PASSPHRASE: 'bench',
  RESTIC_PASSWORD: 'bench',
  BORG_PASSPHRASE: 'bench',
}

export interface Run {
  seconds: number
  /** User + system CPU seconds: fairer than wall time on a machine shared with other work. */
  cpu: number
  rssMiB: number
  stdout: string
}

/** Runs a command under /usr/bin/time -v: wall time, peak RSS (of the largest process), stdout. */
export async function timed(command: string, args: string[]): Promise<Run> {
  const { spawn } = await import('node:child_process')
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', command, ...args], {
      env,
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('close', (code) => {
      if (code !== 0)
        return reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`))
      const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(err)
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err)
      const user = /User time \(seconds\): ([\d.]+)/.exec(err)
      const system = /System time \(seconds\): ([\d.]+)/.exec(err)
      if (!wall || !rss) return reject(new Error(`no /usr/bin/time figures in: ${err.slice(-500)}`))
      const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3])
      const cpu = Number(user?.[1] ?? NaN) + Number(system?.[1] ?? NaN)
      resolve({ seconds, cpu, rssMiB: Number(rss[1]) / 1024, stdout: out })
    })
  })
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

/** One `strata repo <name>` in its own process. */
export function strata(name: string, args: string[]): Promise<Run> {
  return timed(process.execPath, [...strataArgs, '--', name, ...args])
}

export async function du(path: string): Promise<number> {
  return Number((await run('du', ['-sb', path])).split('\t')[0])
}
