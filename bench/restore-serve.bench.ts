// npm run bench -- restore-serve: a restore point served over NBD (`strata restore serve`) read by
// `nbdcopy` into a file, beside `strata repo restore-image --no-sync` of the same point into a file,
// rounds alternating in the same run (goal: at least 0.8x); then the time from nothing to the first
// directory listing of a file restore (serve, appliance start, mount, list). Encrypted repository,
// zstd level 1. Inputs are cached in .strata/bench/restore-serve. The serving process starts once
// and is not timed; restore-image's time includes its process start and the repository's unlock.
import { spawn, type ChildProcess } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openRepository } from '@strata/core/open'
import { resolvePoint } from '@strata/core/repository'
import { FileRestoreSession } from '@strata/core/restore'
import { report, run, type Measurement } from './harness.js'
import { chooseStrata, env, strata, timed, type Run } from './repository-processes.js'

const MiB = 1024 * 1024
const CHUNK = 2 * MiB
const SIZE = 2048 * MiB
const VERSION = 'v1: 2 GiB, 40% zero, 30% random, 30% of 8 repeated 2 MiB blocks; 256 MiB ext4'
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.strata', 'bench', 'restore-serve')
const repo = join(dir, 'repo')

function chunkContent(i: number): Buffer | undefined {
  const kind = createHash('sha256').update(`kind ${i}`).digest().readUInt32BE(0) % 100
  if (kind < 40) return undefined
  const key = createHash('sha256')
    .update(kind < 70 ? `random ${i}` : `repeated ${i % 8}`)
    .digest()
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(CHUNK))
}

/** The disk image, the small ext4 image and their restore points, made once. */
async function prepare(): Promise<{ disk: string; fs: string }> {
  const marker = join(dir, 'points.json')
  const cached = await readFile(marker, 'utf8').catch(() => '')
  if (cached !== '' && (JSON.parse(cached) as { version: string }).version === VERSION)
    return JSON.parse(cached) as { disk: string; fs: string }
  await rm(dir, { recursive: true, force: true })
  await mkdir(join(dir, 'tree', 'etc'), { recursive: true })
  console.log(`making the images and the repository in ${dir} (once)...`)
  const image = join(dir, 'disk.img')
  const handle = await open(image, 'w')
  for (let i = 0; i < SIZE / CHUNK; i++) {
    const data = chunkContent(i)
    if (data !== undefined) await handle.write(data, 0, CHUNK, i * CHUNK)
  }
  await handle.truncate(SIZE)
  await handle.close()
  for (let i = 0; i < 200; i++) await writeFile(join(dir, 'tree', 'etc', `file-${i}.conf`), `setting ${i}\n`)
  const fsImage = join(dir, 'fs.img')
  await run('truncate', ['-s', '256M', fsImage])
  await run('mke2fs', ['-q', '-t', 'ext4', '-d', join(dir, 'tree'), fsImage])
  await strata('init', ['--repo', repo, '--encrypt', '--force', '--compression', '1'])
  const point = async (file: string): Promise<string> =>
    (
      JSON.parse((await strata('backup-image', [file, '--repo', repo, '--vm', 'bench'])).stdout) as {
        point: string
      }
    ).point
  const points = { version: VERSION, disk: await point(image), fs: await point(fsImage) }
  await rm(image)
  await writeFile(marker, JSON.stringify(points))
  return points
}

/** `strata restore serve` of the point on a unix socket, from the built CLI; resolves its URI. */
async function serve(point: string): Promise<{ uri: string; child: ChildProcess }> {
  const socket = join(dir, 'serve.sock')
  await rm(socket, { force: true })
  const child = spawn(
    process.execPath,
    [
      join(root, 'packages/cli/bin/strata.js'),
      'restore',
      'serve',
      '--repo',
      repo,
      '--point',
      point,
      '--socket',
      socket,
    ],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const uri = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolve(out.trim())
    })
    child.once('exit', (code) => reject(new Error(`strata restore serve exited ${code}`)))
  })
  return { uri, child }
}

/** Seconds from nothing to the first listing of '/', and of a second one in the same session. */
async function firstListing(point: string): Promise<{ first: number; second: number; accel: string }> {
  const started = performance.now()
  const repository = await openRepository(repo, {
    credentials: process.env,
    signal: AbortSignal.timeout(600_000),
    passphrase: async () => new TextEncoder().encode(env.STRATA_PASSPHRASE),
  })
  const ref = await resolvePoint(repository, point)
  const session = await FileRestoreSession.open({ repository, ref, disk: 0 })
  try {
    await session.list('/')
    const first = (performance.now() - started) / 1000
    const again = performance.now()
    await session.list('/etc', { limit: 100 })
    return { first, second: (performance.now() - again) / 1000, accel: session.accelerator }
  } finally {
    await session.close()
  }
}

const measurement = (label: string, runs: Run[]): Measurement => ({
  label,
  seconds: runs.map((r) => r.seconds),
  bytes: SIZE,
})

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  await run(join(root, 'scripts/install-system.sh'), [], { stdout: 'ignore' })
  const how = await chooseStrata()
  if (!how.startsWith('built')) throw new Error('restore serve needs the built CLI: npm run build failed')
  const points = await prepare()
  console.log(`restore-serve benchmark: ${VERSION}; ${rounds} rounds; machine shared with other work`)
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
  const { uri, child } = await serve(points.disk)
  const served: Run[] = []
  const restored: Run[] = []
  try {
    const out = join(dir, 'out.img')
    for (let r = 0; r < rounds + 1; r++) {
      // One warm-up round of each (page cache, codec workers), then alternating rounds.
      await rm(out, { force: true })
      const nbd = await timed('nbdcopy', [uri, out])
      await rm(out, { force: true })
      const image = await strata('restore-image', [points.disk, out, '--repo', repo, '--no-sync'])
      if (r === 0) continue
      served.push(nbd)
      restored.push(image)
      console.log(
        `  round ${r}: nbdcopy ${nbd.seconds.toFixed(2)} s, restore-image ${image.seconds.toFixed(2)} s`,
      )
    }
    await rm(out, { force: true })
  } finally {
    child.kill('SIGTERM')
  }
  const ratio = report(
    'A restore point of 2 GiB into a file (logical MB/s; no fsync on either side)',
    measurement('nbdcopy from strata restore serve', served),
    measurement('strata repo restore-image --no-sync', restored),
    'restore-image',
  )
  console.log(`  goal: at least 0.80x -> ${ratio >= 0.8 ? 'met' : 'NOT met'}`)
  const listing = await firstListing(points.fs)
  console.log(
    `\nFile restore, 256 MiB ext4: first directory listing after ${listing.first.toFixed(1)} s ` +
      `(appliance under ${listing.accel}); the next listing ${(listing.second * 1000).toFixed(0)} ms`,
  )
}

await main()
