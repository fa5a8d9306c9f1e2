// npm run bench -- repository: `strata repo backup-image` beside `restic backup` and `borg create
// --compression zstd,1` on the same 4 GiB image in the same run (time, repository size, peak memory),
// then a second backup with 5 % of the chunks changed (Strata is given the changed list), restore-image
// throughput, and GC mark-phase memory on a synthetic repository of 10 TB worth of chunk ids.
// All three tools encrypt (Strata: AES-256-GCM + HMAC ids; restic: its default; borg: repokey-blake2).
// Inputs are cached in .strata/bench. Strata runs from the build (or the sources if the build fails).
import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { sparseImageBench } from './sparse-image.js'
import { report, run, type Measurement } from './harness.js'
import { chooseStrata, du, env, strata, timed, type Run } from './repository-processes.js'
import { benchS3 } from './repository-s3.js'

const GiB = 1024 ** 3
const CHUNK = 2 * 1024 * 1024
const SIZE = 4 * GiB
const CHUNKS = SIZE / CHUNK
const VERSION = 'v1: 4 GiB, 40% zero, 30% random, 30% of 8 repeated 2 MiB blocks'
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.strata', 'bench', 'repository')
const image1 = join(dir, 'disk-1.img')
const image2 = join(dir, 'disk-2.img')
const changedList = join(dir, 'changed.txt')

/** Chunk i: 40 % zeros, 30 % its own pseudo-random bytes, 30 % one of 8 shared blocks. */
function chunkContent(i: number): Buffer | undefined {
  const kind = createHash('sha256').update(`kind ${i}`).digest().readUInt32BE(0) % 100
  if (kind < 40) return undefined
  const seed = kind < 70 ? `random ${i}` : `repeated ${i % 8}`
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(CHUNK))
}

async function prepareImages(): Promise<void> {
  const marker = join(dir, 'images.done')
  if ((await readFile(marker, 'utf8').catch(() => '')) === VERSION) return
  await mkdir(dir, { recursive: true })
  console.log(`making ${image1} and ${image2} (once)...`)
  await rm(image1, { force: true })
  const handle = await open(image1, 'w')
  for (let i = 0; i < CHUNKS; i++) {
    const data = chunkContent(i)
    if (data !== undefined) await handle.write(data, 0, CHUNK, i * CHUNK)
  }
  await handle.truncate(SIZE)
  await handle.close()
  // Second image: 5 % of the chunks get one 256 KiB write (deterministic choice and content).
  await run('cp', ['--sparse=always', image1, image2])
  const second = await open(image2, 'r+')
  const changed: number[] = []
  for (let i = 0; i < CHUNKS; i++) {
    if (createHash('sha256').update(`change ${i}`).digest().readUInt32BE(0) % 100 >= 5) continue
    const key = createHash('sha256').update(`changed ${i}`).digest()
    const data = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(256 * 1024))
    await second.write(data, 0, data.length, i * CHUNK + 512 * 1024)
    changed.push(i)
  }
  await second.close()
  await writeFile(changedList, changed.join('\n'))
  await writeFile(marker, VERSION)
}

const measurement = (label: string, runs: Run[]): Measurement => ({
  label,
  seconds: runs.map((r) => r.seconds),
  bytes: SIZE,
})
const fmtMiB = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(0)} MiB`
const maxRss = (runs: Run[]): number => Math.max(...runs.map((r) => r.rssMiB))

interface ToolResult {
  first: Run[]
  second: Run[]
  size1: number
  size2: number
}

async function benchTool(
  name: string,
  rounds: number,
  init: (repo: string) => Promise<void>,
  backup: (repo: string, n: 1 | 2) => Promise<Run>,
): Promise<ToolResult & { repo: string }> {
  const result: ToolResult & { repo: string } = { first: [], second: [], size1: 0, size2: 0, repo: '' }
  for (let r = 0; r < rounds; r++) {
    const repo = join(dir, `${name}-repo`)
    await rm(repo, { recursive: true, force: true })
    await init(repo)
    result.first.push(await backup(repo, 1))
    result.size1 = await du(repo)
    result.second.push(await backup(repo, 2))
    result.size2 = await du(repo)
    const [a, b] = [result.first.at(-1)!, result.second.at(-1)!]
    console.log(
      `  ${name}: 1st ${a.seconds.toFixed(2)} s (cpu ${a.cpu.toFixed(2)} s, ${a.rssMiB.toFixed(0)} MiB), ` +
        `2nd ${b.seconds.toFixed(2)} s (cpu ${b.cpu.toFixed(2)} s), sizes ${fmtMiB(result.size1)} / ${fmtMiB(result.size2)}`,
    )
    result.repo = repo
  }
  return result
}

type Goal = readonly [goal: string, ratio: number, target: number]

/** `npm run bench -- repository [local|s3]`: both parts unless one is named. */
async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
  const part = process.argv[2]
  if (part !== undefined && part !== 'local' && part !== 's3')
    throw new Error(`unknown part '${part}': local or s3 (default: both)`)
  Object.assign(process.env, env)
  process.env.STRATA_BENCH_TOOLS = '1' // restic, borgbackup, hyperfine
  await run(join(root, 'scripts/install-system.sh'), [], { stdout: 'ignore' })
  const how = await chooseStrata()
  await prepareImages()
  await run('cat', [image1, image2], { stdout: 'ignore' }) // warm the page cache for everyone
  console.log(
    `repository benchmark: ${VERSION}; ${rounds} rounds, fresh repositories; machine shared with other work`,
  )
  console.log(
    `Strata runs from the ${how}; load average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
  const goals: Goal[] = []
  if (part !== 's3') goals.push(...(await benchLocal(rounds)))
  if (part !== 'local') {
    const s3 = await benchS3({
      rounds,
      image: image1,
      bytes: SIZE,
      strata,
      restic: (args, more) => timed('restic', args, more),
    })
    goals.push(
      ['first backup to S3 ≥ 2.5x restic to the same radosgw', s3.vsRestic, 2.5],
      ['first backup to S3 with 20 ms per request ≥ 0.8x without', s3.withDelay, 0.8],
    )
  }
  console.log('\nGoals')
  for (const [goal, ratio, target] of goals)
    console.log(
      `  ${ratio >= target ? 'MET   ' : 'MISSED'} ${goal}: ${ratio.toFixed(2)}${ratio >= target ? '' : ` (goal ${target})`}`,
    )
}

/** Local repositories: first and 5 % backups beside restic and borg, restores, GC memory. */
async function benchLocal(rounds: number): Promise<Goal[]> {
  let strataPoint = ''
  const strataResult = await benchTool(
    'strata',
    rounds,
    async (repo) => void (await strata('init', ['--repo', repo, '--encrypt', '--compression', '1'])),
    async (repo, n) => {
      const args = n === 1 ? [image1] : [image2, '--base', strataPoint, '--changed', `@${changedList}`]
      const r = await strata('backup-image', [...args, '--repo', repo, '--vm', 'bench'])
      strataPoint = (JSON.parse(r.stdout) as { point: string }).point
      return r
    },
  )
  const restic = await benchTool(
    'restic',
    rounds,
    async (repo) => void (await run('restic', ['init', '--repo', repo])),
    (repo, n) => timed('restic', ['-r', repo, 'backup', '--quiet', n === 1 ? image1 : image2]),
  )
  const borg = await benchTool(
    'borg',
    rounds,
    async (repo) => void (await run('borg', ['init', '--encryption=repokey-blake2', repo])),
    (repo, n) =>
      timed('borg', ['create', '--compression', 'zstd,1', `${repo}::a${n}`, n === 1 ? image1 : image2]),
  )
  // restic stores the file under its path; borg too; the input bytes are the same 4 GiB logical image.

  const restores: Run[] = []
  for (let r = 0; r < rounds; r++) {
    const out = join(dir, 'restored.img')
    await rm(out, { force: true })
    restores.push(await strata('restore-image', [strataPoint, out, '--repo', strataResult.repo]))
    const same = await run('cmp', [image2, out])
      .then(() => true)
      .catch(() => false)
    if (!same) throw new Error('restored image differs from the source')
  }
  // restic restore does not fsync what it writes; Strata's default does (2.4 GB here): compare both ways.
  const unsynced: Run[] = []
  for (let r = 0; r < rounds; r++) {
    const out = join(dir, 'restored.img')
    await rm(out, { force: true })
    unsynced.push(await strata('restore-image', [strataPoint, out, '--repo', strataResult.repo, '--no-sync']))
    await rm(out, { force: true })
  }
  const resticRestore: Run[] = []
  for (let r = 0; r < rounds; r++) {
    const target = join(dir, 'restic-restore')
    await rm(target, { recursive: true, force: true })
    resticRestore.push(await timed('restic', ['-r', restic.repo, 'restore', 'latest', '--target', target]))
    await rm(target, { recursive: true, force: true })
  }

  // What every command pays before its first chunk: process start, loading, opening, the scrypt unlock.
  const opens: Run[] = []
  for (let r = 0; r < rounds; r++) opens.push(await strata('info', ['--repo', strataResult.repo]))
  const newChunks = (runs: Run[]): number =>
    (JSON.parse(runs.at(-1)!.stdout) as { newChunks: number }).newChunks

  const gc = await gcMemory()

  const ours = measurement('strata repo backup-image (full)', strataResult.first)
  const faster = [restic, borg].sort((a, b) => median(a.first) - median(b.first))[0]!
  report('First backup of 4 GiB (logical MB/s)', ours, measurement('restic backup', restic.first))
  report(
    'First backup of 4 GiB (logical MB/s)',
    ours,
    measurement('borg create --compression zstd,1', borg.first),
  )
  report(
    'Second backup, 5 % of chunks changed',
    measurement('strata backup-image --changed', strataResult.second),
    measurement('restic backup (2nd)', restic.second),
  )
  report(
    'Second backup, 5 % of chunks changed',
    measurement('strata backup-image --changed', strataResult.second),
    measurement('borg create (2nd)', borg.second),
  )
  report(
    'Restore of 4 GiB (fsync before rename)',
    measurement('strata repo restore-image', restores),
    measurement('restic restore', resticRestore),
  )
  report(
    'Restore of 4 GiB (no fsync, like restic)',
    measurement('strata restore-image --no-sync', unsynced),
    measurement('restic restore', resticRestore),
  )

  console.log('\nRepository size and peak memory')
  const row = (label: string, t: ToolResult): void =>
    console.log(
      `  ${label.padEnd(10)} after 1st ${fmtMiB(t.size1).padStart(9)}  after 2nd ${fmtMiB(t.size2).padStart(9)}  peak RSS 1st ${maxRss(t.first).toFixed(0).padStart(5)} MiB, 2nd ${maxRss(t.second).toFixed(0).padStart(5)} MiB`,
    )
  row('strata', strataResult)
  row('restic', restic)
  row('borg', borg)
  console.log(
    `  ratio of sizes after 1st (strata / restic): ${(strataResult.size1 / restic.size1).toFixed(2)}, (strata / borg): ${(strataResult.size1 / borg.size1).toFixed(2)}`,
  )
  const cpu = (runs: Run[]): string => `${median(runs.map((r) => ({ ...r, seconds: r.cpu }))).toFixed(2)} s`
  console.log(
    '\nCPU time (user + system, median): less sensitive to other work on the machine than wall time',
  )
  console.log(
    `  1st backup: strata ${cpu(strataResult.first)}, restic ${cpu(restic.first)}, borg ${cpu(borg.first)}`,
  )
  console.log(
    `  2nd backup: strata ${cpu(strataResult.second)}, restic ${cpu(restic.second)}, borg ${cpu(borg.second)}`,
  )
  console.log(`  restore:    strata ${cpu(restores)}, restic ${cpu(resticRestore)}`)
  console.log(
    `  restore peak RSS: strata ${maxRss(restores).toFixed(0)} MiB, restic ${maxRss(resticRestore).toFixed(0)} MiB`,
  )
  console.log(
    `\nGC mark phase on ${gc.ids.toLocaleString('en')} chunk ids (${gc.tb.toFixed(1)} TB of 2 MiB chunks): peak RSS ${gc.rssMiB.toFixed(0)} MiB (mark set ${fmtMiB(gc.markBytes)}), ${gc.seconds.toFixed(1)} s`,
  )

  const [new1, new2] = [newChunks(strataResult.first), newChunks(strataResult.second)]
  console.log('\nWhat bounds the 5 % incremental')
  console.log(
    `  strata repo info (process start, open, scrypt unlock): ${median(opens).toFixed(2)} s = ` +
      `${((median(opens) / median(strataResult.first)) * 100).toFixed(1)} % of the first backup's time`,
  )
  console.log(
    `  new chunks stored: ${new2} in the 2nd, ${new1} in the 1st (${((new2 / new1) * 100).toFixed(1)} %)`,
  )

  const goals: Goal[] = [
    [
      `first backup ≥ 2x faster than the faster peer (${faster === restic ? 'restic' : 'borg'})`,
      median(faster.first) / median(strataResult.first),
      2,
    ],
    [
      'first backup no larger than the smaller peer repository (ratio ≤ 1)',
      Math.min(restic.size1, borg.size1) / strataResult.size1,
      1,
    ],
    [
      '5 % incremental under 10 % of the first backup time (ratio ≥ 10)',
      median(strataResult.first) / median(strataResult.second),
      10,
    ],
    ['restore at least as fast as backup (ratio ≥ 1)', median(strataResult.first) / median(restores), 1],
    [
      'restore --no-sync at least as fast as backup (ratio ≥ 1)',
      median(strataResult.first) / median(unsynced),
      1,
    ],
    ['GC of 10 TB under 256 MiB (ratio ≥ 1)', 256 / gc.rssMiB, 1],
  ]
  // Its own section of the report (sparse images: the cost follows the data); it prints its figures.
  await sparseImageBench({ strata, timed, dir, rounds })
  return goals
}

function median(runs: Run[]): number {
  const s = runs.map((r) => r.seconds).sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * A plain repository with 5 VMs × one 2 TiB disk (1 Mi ids each: 5 Mi ids = 10.5 TB of 2 MiB chunks),
 * written synthetically (indexes and manifests only, no chunk data), then `strata repo gc --dry-run`
 * in its own process: the mark phase reads every index into the Bloom filter.
 */
async function gcMemory(): Promise<{
  ids: number
  tb: number
  rssMiB: number
  seconds: number
  markBytes: number
}> {
  const repo = join(dir, 'gc-synthetic')
  const disks = 5
  const perDisk = (2 * 1024 ** 4) / CHUNK
  const marker = join(repo, '.bench-done')
  if ((await readFile(marker, 'utf8').catch(() => '')) !== 'v1') {
    await rm(repo, { recursive: true, force: true })
    await strata('init', ['--repo', repo, '--compression', '0'])
    const entry = `
      import { openRepository } from '@strata/core/open'
      import { PointWriter } from '@strata/core/repository'
      import { randomFillSync } from 'node:crypto'
      const signal = new AbortController().signal
      const repo = await openRepository(process.argv[1], { credentials: {}, signal })
      for (let d = 0; d < ${disks}; d++) {
        const point = await PointWriter.begin(repo, { vm: 'synthetic-' + d })
        const writer = point.openDisk('xvda', ${perDisk} * ${CHUNK})
        randomFillSync(writer.ids) // ids of chunks never stored: only the mark phase is measured
        await point.commit()
      }`
    await timed(process.execPath, [
      '--conditions=strata-source',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      entry,
      '--',
      repo,
    ])
    await writeFile(marker, 'v1')
  }
  const r = await strata('gc', ['--repo', repo, '--dry-run'])
  const result = JSON.parse(r.stdout) as { idsMarked: number; markBytes: number }
  return {
    ids: result.idsMarked,
    tb: (result.idsMarked * CHUNK) / 1e12,
    rssMiB: r.rssMiB,
    seconds: r.seconds,
    markBytes: result.markBytes,
  }
}

await main()
