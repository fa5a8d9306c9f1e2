// npm run bench -- xo-import [SIZE_MIB]: `strata xo import` of an XO remote beside `strata repo
// backup-image` of the same bytes, same run. The remotes (built once from the format description, cached
// in .strata/bench/xo-import) hold one VM with a disk of SIZE_MIB (default 256) as plain VHD files, as
// XO writes them on NFS: a key VHD with every block written, then two deltas changing 5 % of the blocks.
// First the key point alone against backup-image of its raw image (the same work: every block read,
// hashed, compressed, stored). Then the three points, against backup-image of the three raw images
// into one repository: the import reads each delta's VHDs only (it goes on from the point before),
// backup-image reads each image whole (as a full backup would). Each round starts from empty
// repositories; both sides run the built CLI in a process of their own. Throughput counts disk bytes.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DiskImage, dirSink, fileDate, XoRemoteBuilder, type LineageVhd } from '@strata/core/xo/testing'
import { measure, report, run } from './harness.js'

const MiB = 1024 * 1024
const BLOCK = 2 * MiB
const size = Number(process.argv[2] ?? 256) * MiB
const POINTS = 3
const VM = '0b0b0b0b-0000-4000-8000-00000000b0b0'
const VERSION = `v3: ${size} bytes, ${POINTS} points, VHD files`
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.strata', 'bench', 'xo-import')
const remote = join(dir, 'remote')
const keyRemote = join(dir, 'remote-key')
const image = (n: number): string => join(dir, `point-${n}.raw`)
const strata = join(root, 'packages', 'cli', 'bin', 'strata.js')

async function prepare(): Promise<void> {
  const marker = join(dir, 'done')
  if ((await readFile(marker, 'utf8').catch(() => '')) === VERSION) return
  console.log(`making the XO remote ${remote} and its raw images (once)...`)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const builder = await XoRemoteBuilder.create(dirSink(remote))
  const key = await XoRemoteBuilder.create(dirSink(keyRemote))
  const disk = new DiskImage(size)
  const lineage = {
    jobId: '0b0b0b0b-0000-4000-8000-0000000000a0',
    vdiUuid: '0b0b0b0b-0000-4000-8000-0000000000d0',
  }
  let parent: LineageVhd | undefined
  for (let n = 0; n < POINTS; n++) {
    const timestamp = Date.UTC(2025, 5, 1) + n * 86_400_000
    const all = Array.from({ length: disk.blockCount }, (_, i) => i)
    const blocks = disk.write(n === 0 ? all : all.filter((i) => (i * 7 + n) % 20 === 0), `bench-${n}`)
    const previous = parent
    for (const b of n === 0 ? [builder, key] : [builder]) {
      const vhd = await b.addVhd(VM, lineage, fileDate(timestamp), disk, blocks, { kind: 'file' }, previous)
      await b.deltaBackup(VM, timestamp, {
        jobId: lineage.jobId,
        vmRecord: { name_label: 'bench' },
        disks: [{ vdiUuid: lineage.vdiUuid, vhd, name: 'bench 0', size }],
      })
      if (b === builder) parent = vhd
    }
    await writeFile(image(n), disk.bytes)
  }
  await writeFile(marker, VERSION)
}

async function freshRepo(name: string): Promise<string> {
  const repo = join(dir, name)
  await rm(repo, { recursive: true, force: true })
  await run(process.execPath, [strata, 'repo', 'init', '--repo', repo])
  return repo
}

/** Imports `from` into a new repository, `points` points expected. */
async function importAll(from: string, points: number): Promise<void> {
  const repo = await freshRepo('repo-import')
  const out = await run(process.execPath, [
    strata,
    'xo',
    'import',
    '--remote',
    from,
    '--repo',
    repo,
    '--json',
  ])
  const stored = (JSON.parse(out) as { imported: unknown[] }).imported.length
  if (stored !== points) throw new Error(`the import stored ${stored} points, not ${points}`)
}

/** Stores raw images 0 to `points` - 1 into a new repository, each whole. */
async function backupAll(points: number): Promise<void> {
  const repo = await freshRepo('repo-backup')
  for (let n = 0; n < points; n++)
    await run(process.execPath, [
      strata,
      'repo',
      'backup-image',
      image(n),
      '--repo',
      repo,
      '--vm',
      VM,
      '--json',
    ])
}

await prepare()
const rounds = { rounds: 3, warmup: false }
const title = (what: string): string => `${what} of a ${size / MiB} MiB disk (${BLOCK / MiB} MiB VHD blocks)`
report(
  title('The key point'),
  await measure('strata xo import', size, () => importAll(keyRemote, 1), rounds),
  await measure('strata repo backup-image', size, () => backupAll(1), rounds),
  'backup-image',
)
report(
  title(`${POINTS} points`),
  await measure('strata xo import', POINTS * size, () => importAll(remote, POINTS), rounds),
  await measure('strata repo backup-image', POINTS * size, () => backupAll(POINTS), rounds),
  'backup-image',
)
