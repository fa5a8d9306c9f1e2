// npm run bench -- xo-import [SIZE_MIB]: `strata xo import` of an XO remote beside `strata repo
// backup-image` of the same bytes, same run. The remote (built once from the format description, cached
// in .strata/bench/xo-import) holds one VM with a disk of SIZE_MIB (default 256) as plain VHD files, as
// XO writes them on NFS: a key VHD with every block written and two deltas changing 5 % of the blocks,
// so three restore points. backup-image stores the three raw images those points restore to, one after
// the other into one repository, as the import does. Each round starts from empty repositories; both
// sides run the built CLI in a process of their own. Throughput counts the disks' bytes (3 × SIZE).
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
const VERSION = `v1: ${size} bytes, ${POINTS} points, VHD files`
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.strata', 'bench', 'xo-import')
const remote = join(dir, 'remote')
const image = (n: number): string => join(dir, `point-${n}.raw`)
const strata = join(root, 'packages', 'cli', 'bin', 'strata.js')

async function prepare(): Promise<void> {
  const marker = join(dir, 'done')
  if ((await readFile(marker, 'utf8').catch(() => '')) === VERSION) return
  console.log(`making the XO remote ${remote} and its raw images (once)...`)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const builder = await XoRemoteBuilder.create(dirSink(remote))
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
    parent = await builder.addVhd(VM, lineage, fileDate(timestamp), disk, blocks, { kind: 'file' }, parent)
    await builder.deltaBackup(VM, timestamp, {
      jobId: lineage.jobId,
      vmRecord: { name_label: 'bench' },
      disks: [{ vdiUuid: lineage.vdiUuid, vhd: parent, name: 'bench 0', size }],
    })
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

await prepare()
const bytes = POINTS * size
const rounds = { rounds: 3, warmup: false }
let imported = ''
const xo = await measure(
  'strata xo import',
  bytes,
  async () => {
    const repo = await freshRepo('repo-import')
    imported = await run(process.execPath, [
      strata,
      'xo',
      'import',
      '--remote',
      remote,
      '--repo',
      repo,
      '--json',
    ])
  },
  rounds,
)
const points = (JSON.parse(imported) as { imported: unknown[] }).imported.length
if (points !== POINTS) throw new Error(`the import stored ${points} points, not ${POINTS}`)
const backup = await measure(
  'strata repo backup-image',
  bytes,
  async () => {
    const repo = await freshRepo('repo-backup')
    for (let n = 0; n < POINTS; n++)
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
  },
  rounds,
)
report(
  `XO import of ${POINTS} points of a ${size / MiB} MiB disk (${BLOCK / MiB} MiB VHD blocks)`,
  xo,
  backup,
  'backup-image',
)
