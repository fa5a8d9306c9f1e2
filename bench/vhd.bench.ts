// npm run bench -- vhd: Strata's VHD streaming reader beside `qemu-img convert -f vpc`, same file, same run.
// Input (made once, cached in .strata/bench): a deterministic 4 GiB raw disk (~40% zero blocks, ~30%
// random, ~30% copies of a few blocks) and its dynamic VHD written by qemu-img. Throughput is counted
// in logical disk bytes (4 GiB) for both sides. Outputs go to the page cache (no fsync) on both sides.
import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, rm, stat, writeFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openVhdFileStream, vhdToRaw } from '@strata/core/vhd'
import { median, report, run, type Measurement } from './harness.js'

const GiB = 1024 ** 3
const BLOCK = 2 * 1024 * 1024
const SIZE = 4 * GiB
const VERSION = 'v1: 4 GiB, 40/30/30, aes-ctr blocks'
const dir = join(import.meta.dirname, '..', '.strata', 'bench')
const rawPath = join(dir, 'vhd-4g.raw')
const vhdPath = join(dir, 'vhd-4g.vhd')
const marker = join(dir, 'vhd-4g.done')

/** Block i: 40% zeros, 30% its own pseudo-random bytes, 30% one of 8 shared blocks. */
function blockContent(i: number): Uint8Array | undefined {
  const kind = createHash('sha256').update(`kind ${i}`).digest().readUInt32BE(0) % 100
  if (kind < 40) return undefined
  const seed = kind < 70 ? `random ${i}` : `repeated ${i % 8}`
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(BLOCK))
}

async function prepare(): Promise<void> {
  if ((await readFile(marker, 'utf8').catch(() => '')) === VERSION) return
  await mkdir(dir, { recursive: true })
  console.log(`making ${rawPath} and ${vhdPath} (once)...`)
  await rm(rawPath, { force: true })
  const handle = await open(rawPath, 'w')
  for (let i = 0; i < SIZE / BLOCK; i++) {
    const data = blockContent(i)
    if (data !== undefined) await handle.write(data, 0, BLOCK, i * BLOCK)
  }
  await handle.truncate(SIZE)
  await handle.close()
  await run('qemu-img', [
    'convert',
    '-f',
    'raw',
    '-O',
    'vpc',
    '-o',
    'subformat=dynamic,force_size=on',
    rawPath,
    vhdPath,
  ])
  await writeFile(marker, VERSION)
}

async function streamToNull(): Promise<void> {
  const stream = await openVhdFileStream(vhdPath, { recycleAfterBlocks: 1 }) // each block is dropped at once
  let bytes = 0
  for await (const block of stream.blocks()) bytes += block.data.length
  if (bytes === 0) throw new Error('no blocks read')
}

await prepare()
const vhdBytes = (await stat(vhdPath)).size
console.log(`input: ${vhdPath} (${(vhdBytes / 1e9).toFixed(2)} GB VHD of a ${SIZE / GiB} GiB disk)`)
const outOurs = join(dir, 'vhd-4g.strata.raw')
const outQemu = join(dir, 'vhd-4g.qemu.raw')

type Side = [label: string, fn: () => Promise<number>]

/**
 * Runs both sides alternately (ours, peer, ours, peer...) after one warm-up each, deleting outputs
 * outside the timing: on a shared machine, page-cache writeback and other load then hit both alike.
 * Each side also reports its CPU seconds (user + sys), which other load disturbs far less than wall time.
 */
async function alternate(title: string, ours: Side, peer: Side, rounds = 5): Promise<void> {
  const a: Measurement = { label: ours[0], seconds: [], bytes: SIZE }
  const b: Measurement = { label: peer[0], seconds: [], bytes: SIZE }
  const cpu: [number[], number[]] = [[], []]
  const sides = [
    [a, ours[1], outOurs, cpu[0]],
    [b, peer[1], outQemu, cpu[1]],
  ] as const
  for (let i = -1; i < rounds; i++) {
    for (const [m, fn, out, cpuSeconds] of sides) {
      await rm(out, { force: true })
      await run('sync', [])
      const start = process.hrtime.bigint()
      const used = await fn()
      if (i < 0) continue
      m.seconds.push(Number(process.hrtime.bigint() - start) / 1e9)
      cpuSeconds.push(used)
    }
  }
  report(title, a, b)
  const [ourCpu, peerCpu] = cpu.map(median) as [number, number]
  console.log(`  CPU user+sys, median: Strata ${ourCpu.toFixed(3)} s, qemu-img ${peerCpu.toFixed(3)} s`)
}

/** Runs `fn` in this process and returns the CPU seconds it used (all threads, libuv's included). */
async function inProcess(fn: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage()
  await fn()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1e6
}

/** Runs qemu-img under sh and returns its CPU seconds, from the shell's `times` (children line). */
const qemu = (args: string[]) => async (): Promise<number> => {
  const quoted = args.map((x) => `'${x}'`).join(' ')
  const out = await run('sh', ['-c', `qemu-img ${quoted} && times`])
  const children =
    out
      .trim()
      .split('\n')
      .at(-1)!
      .match(/(\d+)m([\d.]+)s/g) ?? []
  return children.reduce((sum, t) => {
    const [, min, sec] = /(\d+)m([\d.]+)s/.exec(t)!
    return sum + Number(min) * 60 + Number(sec)
  }, 0)
}

// qemu-img cannot write raw to /dev/null ("Cannot grow device files"); its null-co driver is the like for like.
await alternate(
  'VHD (dynamic, 4 GiB) -> discard',
  ['strata stream reader -> null', () => inProcess(streamToNull)],
  [
    'qemu-img convert -> null-co',
    qemu(['convert', '-n', '-f', 'vpc', vhdPath, '--target-image-opts', `driver=null-co,size=${SIZE}`]),
  ],
)
await alternate(
  'VHD (dynamic, 4 GiB) -> sparse raw file (page cache, no fsync)',
  ['strata vhdToRaw -> raw file', () => inProcess(() => vhdToRaw(vhdPath, outOurs, { sync: false }))],
  ['qemu-img convert -O raw -> file', qemu(['convert', '-f', 'vpc', '-O', 'raw', vhdPath, outQemu])],
)
await run('cmp', [outOurs, outQemu])
console.log('\noutputs of the last round are identical (cmp)')
await rm(outOurs, { force: true })
await rm(outQemu, { force: true })
