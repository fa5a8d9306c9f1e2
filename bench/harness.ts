// Shared benchmark plumbing: time Strata and a peer on the same input in the same run, several rounds,
// and print medians side by side with their ratio. Benchmarks are not tests: CI does not run them.
import { spawn } from 'node:child_process'

export interface Measurement {
  label: string
  seconds: number[]
  bytes: number
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs `fn` `rounds` times (after one warm-up unless disabled) and records wall-clock seconds. */
export async function measure(
  label: string,
  bytes: number,
  fn: () => Promise<void>,
  { rounds = 3, warmup = true } = {},
): Promise<Measurement> {
  if (warmup) await fn()
  const seconds: number[] = []
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint()
    await fn()
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9)
  }
  return { label, seconds, bytes }
}

/** Runs a command to completion, rejecting with its stderr on a non-zero exit. */
export function run(
  command: string,
  args: string[],
  options: { stdout?: 'ignore' | 'pipe' } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err}`)),
    )
  })
}

/** One command's figures under /usr/bin/time -v. */
export interface TimedRun {
  seconds: number
  /** User + system CPU seconds: fairer than wall time on a machine shared with other work. */
  cpu: number
  rssMiB: number
  stdout: string
}

/** Runs a command under /usr/bin/time -v: wall time, CPU, peak RSS (of the largest process), stdout. */
export function timed(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', command, ...args], {
      env: options.env ?? process.env,
      cwd: options.cwd,
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

const mbps = (m: Measurement): number => m.bytes / 1e6 / median(m.seconds)

/**
 * Prints Strata's measurement beside the peer's. `ratio` is Strata's throughput over the peer's:
 * above 1 means Strata is faster. `peerName` names the peer in the ratio line (default: the label's first word).
 */
export function report(
  title: string,
  ours: Measurement,
  peer: Measurement,
  peerName = peer.label.split(' ')[0],
): number {
  const ratio = mbps(ours) / mbps(peer)
  const row = (m: Measurement): string =>
    `  ${m.label.padEnd(44)} ${median(m.seconds).toFixed(3).padStart(8)} s  ${mbps(m).toFixed(0).padStart(7)} MB/s` +
    `   (runs: ${m.seconds.map((s) => s.toFixed(3)).join(', ')})`
  console.log(`\n${title}`)
  console.log(row(ours))
  console.log(row(peer))
  console.log(`  ratio (Strata / ${peerName}): ${ratio.toFixed(2)}x`)
  return ratio
}
