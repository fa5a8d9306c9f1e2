// npm run bench -- nbd [--sweep] [--server-only]: Strata's NBD client and server beside nbdcopy and
// qemu-nbd, same run, each peer in its fastest configuration.
//  1. client: qemu-nbd serves a 4 GiB image on loopback TCP; Strata's client (its defaults) reads it and
//     discards it (`strata nbd copy URI null:`), and so does `nbdcopy URI null:` (nbdcopy's fastest
//     output: /dev/null would make it write every byte, synchronously), with its defaults and with
//     --no-extents; Strata is compared with the faster of the two.
//  2. server: Strata's NbdServer (full profile, in this process) and qemu-nbd each serve the image on
//     loopback TCP; `nbdcopy URI null:` reads it from each.
// Both sides use block status (their defaults), so zero runs are skipped where the server reports them.
// Wall-clock ratios come from the harness; CPU seconds of the compared side (client, or server) follow,
// since on a machine shared with other work they are the steadier figure.
// Input (made once, cached in .strata/bench): 2 MiB blocks, 40% never written (holes), 10% written
// zeros, 30% pseudo-random, 20% copies of a few blocks. --sweep also times the client's settings.
import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import {
  copyToFile,
  FileBlockSource,
  NbdClient,
  NbdServer,
  NULL_OUTPUT,
  staticExports,
} from '@strata/core/nbd'
import { measure, median, report, run, type Measurement } from './harness.js'

const GiB = 1024 ** 3
const BLOCK = 2 * 1024 * 1024
const SIZE = 4 * GiB
const VERSION = 'v1: 4 GiB, 40 hole/10 zero/30 random/20 repeated'
const dir = join(import.meta.dirname, '..', '.strata', 'bench')
const image = join(dir, 'nbd-4g.raw')
const marker = join(dir, 'nbd-4g.done')

function blockContent(i: number): Buffer | undefined {
  const kind = createHash('sha256').update(`nbd kind ${i}`).digest().readUInt32BE(0) % 100
  if (kind < 40) return undefined
  if (kind < 50) return Buffer.alloc(BLOCK)
  const seed = kind < 80 ? `random ${i}` : `repeated ${i % 8}`
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(BLOCK))
}

async function prepare(): Promise<void> {
  if ((await readFile(marker, 'utf8').catch(() => '')) === VERSION) return
  await mkdir(dir, { recursive: true })
  console.log(`making ${image} (once)...`)
  await rm(image, { force: true })
  const handle = await open(image, 'w')
  for (let i = 0; i < SIZE / BLOCK; i++) {
    const data = blockContent(i)
    if (data !== undefined) await handle.write(data, 0, BLOCK, i * BLOCK)
  }
  await handle.truncate(SIZE)
  await handle.close()
  await writeFile(marker, VERSION)
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  await new Promise((r) => server.close(r))
  return port
}

/**
 * qemu-nbd as in the reference measurements (-e 16 for multi-connection clients), in a session of its
 * own: it stands in for another host, and with the kernel's autogroup scheduling a child in this
 * process's session would share one CPU share with the client being measured (on this shared machine,
 * the single-threaded side of that share then starves under load).
 */
async function startQemuNbd(port: number): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = spawn(
    'qemu-nbd',
    ['-r', '-f', 'raw', '-b', '127.0.0.1', '-p', String(port), '-x', 'disk', '-t', '-e', '16', image],
    { stdio: 'ignore', detached: true },
  )
  for (let i = 0; i < 100; i++) {
    const up = await run('nbdinfo', ['--size', `nbd://127.0.0.1:${port}/disk`]).then(
      () => true,
      () => false,
    )
    if (up) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    },
  }
}

/** CPU seconds (user + system) this process spends in `fn`. */
async function ownCpu(fn: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage()
  await fn()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1e6
}

/** CPU seconds another process has used so far (/proc/PID/stat utime + stime, 100 ticks a second). */
async function processCpu(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * Runs `nbdcopy URI null:` (read and discard) in a session of its own (like qemu-nbd: its own CPU share,
 * not this process's); returns its CPU seconds (GNU time).
 */
async function nbdcopy(uri: string, options: string[] = []): Promise<number> {
  const out = join(dir, 'nbdcopy.time')
  await run('setsid', [
    '-w',
    '/usr/bin/time',
    '-o',
    out,
    '-f',
    '%U %S',
    'nbdcopy',
    ...options,
    uri,
    NULL_OUTPUT,
  ])
  const [user, system] = (await readFile(out, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number)
  return user! + system!
}

/** What `strata nbd copy URI null:` does, in this process; returns its CPU seconds. */
async function strataCopy(
  port: number,
  settings: { connections?: number; inFlight?: number; requestSize?: number } = {},
): Promise<number> {
  return ownCpu(async () => {
    const client = await NbdClient.open({ host: '127.0.0.1', port, exportName: 'disk', ...settings })
    try {
      const r = await copyToFile(client, NULL_OUTPUT)
      if (r.size !== SIZE) throw new Error(`copied ${r.size} bytes`)
    } finally {
      await client.close()
    }
  })
}

type Contender = [label: string, run: () => Promise<number>]

/**
 * Times contenders in turn, round after round (after one warm-up each), so that the load other
 * processes put on this shared machine falls on all alike. Each run returns the CPU seconds of the side
 * compared (client, or server), a figure that load from other processes moves less; printed here.
 */
async function interleaved(contenders: Contender[], rounds = 3): Promise<Measurement[]> {
  const measured = contenders.map(([label]) => ({ label, seconds: [] as number[], bytes: SIZE }))
  const cpu = contenders.map(() => [] as number[])
  for (const [, fn] of contenders) await fn()
  for (let i = 0; i < rounds; i++) {
    for (const [k, [label, fn]] of contenders.entries()) {
      const m = await measure(label, SIZE, async () => void cpu[k]!.push(await fn()), {
        rounds: 1,
        warmup: false,
      })
      measured[k]!.seconds.push(...m.seconds)
    }
  }
  console.log(
    `\n  CPU seconds (median): ${contenders.map(([label], k) => `${label}: ${median(cpu[k]!).toFixed(2)} s`).join(', ')}`,
  )
  const ours = median(cpu[0]!)
  for (const [k, [label]] of contenders.entries())
    if (k > 0)
      console.log(`  CPU ratio ${label} / ${contenders[0]![0]}: ${(median(cpu[k]!) / ours).toFixed(2)}x`)
  return measured
}

/** The contender with the smallest median time (the peer's best configuration). */
const fastest = (ms: Measurement[]): Measurement =>
  ms.reduce((best, m) => (median(m.seconds) < median(best.seconds) ? m : best))

async function main(): Promise<void> {
  await prepare()
  const sweep = process.argv.includes('--sweep')
  const qemuPort = await freePort()
  const qemu = await startQemuNbd(qemuPort)
  const qemuUri = `nbd://127.0.0.1:${qemuPort}/disk`
  try {
    if (!process.argv.includes('--server-only')) await clientPart(sweep, qemuPort, qemuUri)
    await serverPart(qemu, qemuUri)
  } finally {
    await qemu.stop()
  }
}

async function clientPart(sweep: boolean, qemuPort: number, qemuUri: string): Promise<void> {
  const [ours, ...peers] = await interleaved(
    [
      ['Strata NbdClient null: (defaults)', () => strataCopy(qemuPort)],
      ['nbdcopy null: (defaults)', () => nbdcopy(qemuUri)],
      ['nbdcopy --no-extents null:', () => nbdcopy(qemuUri, ['--no-extents'])],
    ],
    5,
  )
  for (const peer of peers)
    report(`NBD client: 4 GiB from qemu-nbd (loopback TCP), read and discarded`, ours!, peer, 'nbdcopy')
  const best = fastest(peers)
  const ratio = report("NBD client against nbdcopy's best configuration", ours!, best, 'nbdcopy')
  console.log(`  goal ≥ 0.9x: ${ratio >= 0.9 ? 'MET' : 'MISSED'} (against ${best.label})`)
  const settings = [
    [2, 16, 2 << 20], [2, 32, 1 << 20], [1, 32, 1 << 20], [4, 16, 1 << 20], [2, 64, 512 << 10], [4, 64, 256 << 10],
  ] as const // prettier-ignore
  for (const [c, r, size] of sweep ? settings : []) {
    const [m, p] = await interleaved(
      [
        [
          `Strata ${c} conn × ${r} req × ${size >> 10} KiB`,
          () => strataCopy(qemuPort, { connections: c, inFlight: r, requestSize: size }),
        ],
        ['nbdcopy null: (defaults)', () => nbdcopy(qemuUri)],
      ],
      2,
    )
    report(`sweep: ${c} connection(s), ${r} requests of ${size >> 10} KiB each`, m!, p!)
  }
}

async function serverPart(qemu: { pid: number }, qemuUri: string): Promise<void> {
  const source = await FileBlockSource.open(image)
  const server = await NbdServer.listen({ resolve: staticExports({ disk: source }) }, { port: 0 })
  try {
    const [ourServer, peerServer] = await interleaved(
      [
        ['nbdcopy null: ← Strata NbdServer', () => ownCpu(() => nbdcopy(server.uri('disk')))],
        [
          'nbdcopy null: ← qemu-nbd',
          async () => {
            const before = await processCpu(qemu.pid)
            await nbdcopy(qemuUri)
            return (await processCpu(qemu.pid)) - before
          },
        ],
      ],
      5,
    )
    report(
      'NBD server: nbdcopy reads 4 GiB (loopback TCP) and discards it',
      ourServer!,
      peerServer!,
      'qemu-nbd',
    )
  } finally {
    await server.close()
    await source.close()
  }
}

await main()
