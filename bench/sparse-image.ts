// Part of `npm run bench -- repository`: a sparse raw image, 64 GiB logical holding 1.2 GiB of data,
// backed up by `strata repo backup-image` and by `borg create --chunker-params fixed,2097152 --sparse`
// (borg's best configuration for a disk image: fixed 2 MiB chunks, holes skipped), fresh repositories,
// rounds alternating between the two. The goal is that the cost follows the data, not the disk size:
// Strata reads only the chunks the file system's allocation map (FIEMAP) shows data in.
import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { report, run, type Measurement } from './harness.js'

const MiB = 1024 * 1024
const SIZE = 64 * 1024 * MiB
const PIECE = MiB
/** 1.2 GiB of data in 1 MiB pieces at pseudo-random MiB-aligned places (so some chunks hold half). */
const PIECES = Math.round((1.2 * 1024 * MiB) / PIECE)
const VERSION = `v1: 64 GiB, ${PIECES} random 1 MiB pieces`

interface Run {
  readonly seconds: number
  readonly cpu: number
  readonly rssMiB: number
  readonly stdout: string
}

export interface SparseBenchDeps {
  /** One `strata repo <name> ...` in its own process, timed. */
  readonly strata: (name: string, args: string[]) => Promise<Run>
  /** Any command, timed. */
  readonly timed: (command: string, args: string[]) => Promise<Run>
  /** The benchmark's scratch folder. */
  readonly dir: string
  readonly rounds: number
}

async function prepare(image: string): Promise<void> {
  const marker = `${image}.done`
  if ((await readFile(marker, 'utf8').catch(() => '')) === VERSION) return
  console.log(`making ${image} (once)...`)
  await rm(image, { force: true })
  const handle = await open(image, 'w')
  const slots = SIZE / PIECE
  const taken = new Set<number>()
  for (let i = 0; taken.size < PIECES; i++) {
    const slot = createHash('sha256').update(`sparse slot ${i}`).digest().readUInt32BE(0) % slots
    if (taken.has(slot)) continue
    taken.add(slot)
    const key = createHash('sha256').update(`sparse piece ${slot}`).digest()
    const data = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(PIECE))
    await handle.write(data, 0, PIECE, slot * PIECE)
  }
  await handle.truncate(SIZE)
  await handle.close()
  await writeFile(marker, VERSION)
}

const measured = (label: string, runs: Run[]): Measurement => ({
  label,
  seconds: runs.map((r) => r.seconds),
  bytes: SIZE,
})

export async function sparseImageBench(deps: SparseBenchDeps): Promise<void> {
  const dir = join(deps.dir, 'sparse')
  await mkdir(dir, { recursive: true })
  const image = join(dir, 'sparse-64g.img')
  await prepare(image)
  await run('cat', [image], { stdout: 'ignore' }) // warm the page cache for both (holes cost nothing)
  const ours: Run[] = []
  const borg: Run[] = []
  let read = ''
  for (let r = 0; r < deps.rounds; r++) {
    const repo = join(dir, 'strata-repo')
    await rm(repo, { recursive: true, force: true })
    await deps.strata('init', ['--repo', repo, '--encrypt', '--compression', '1'])
    const s = await deps.strata('backup-image', [image, '--repo', repo, '--vm', 'sparse'])
    ours.push(s)
    const out = JSON.parse(s.stdout) as { chunks: number; chunksRead: number; path: string }
    read = `${out.chunksRead} of ${out.chunks} chunks read (${out.path})`
    const borgRepo = join(dir, 'borg-repo')
    await rm(borgRepo, { recursive: true, force: true })
    await run('borg', ['init', '--encryption=repokey-blake2', borgRepo])
    borg.push(
      await deps.timed('borg', [
        'create', '--chunker-params', 'fixed,2097152', '--sparse', '--compression', 'zstd,1',
        `${borgRepo}::sparse`, image,
      ]), // prettier-ignore
    )
    console.log(
      `  sparse image round ${r + 1}: strata ${s.seconds.toFixed(2)} s (cpu ${s.cpu.toFixed(2)} s), ` +
        `borg ${borg.at(-1)!.seconds.toFixed(2)} s (cpu ${borg.at(-1)!.cpu.toFixed(2)} s); ${read}`,
    )
  }
  const ratio = report(
    'Sparse image: 64 GiB logical, 1.2 GiB of data (logical MB/s)',
    measured('strata repo backup-image', ours),
    measured('borg create fixed 2 MiB --sparse', borg),
    'borg',
  )
  console.log(`  Strata: ${read}; goal: the cost follows the data (ratio to borg ${ratio.toFixed(2)}x)`)
}
