// The remote most XO tests read: delta chains of VHD files and of VhdDirectories (brotli, gzip, none),
// full backups as XVAs (gzip, zstd, plain), cache.json.gz, leftovers, and restore points broken in each
// way the reader must survive. Returns what each point must restore to.
import { randomUUID } from 'node:crypto'
import { DiskImage } from './disk-images.js'
import {
  fileDate,
  type BuilderOptions,
  type LineageVhd,
  type RemoteSink,
  type VhdOptions,
  XoRemoteBuilder,
} from './remote-builder.js'
import { buildXva, xvaChecksum } from './xva-builder.js'

export const VM = {
  delta: '0a1b2c3d-0000-4000-8000-00000000000a',
  gzip: '0a1b2c3d-0000-4000-8000-00000000000b',
  full: '0a1b2c3d-0000-4000-8000-00000000000c',
  bad: '0a1b2c3d-0000-4000-8000-00000000000d',
} as const

export const JOB = 'f00dcafe-0000-4000-8000-000000000001'
const T0 = Date.UTC(2025, 0, 1, 1, 2, 3)
const HOUR = 3_600_000

export interface ExpectedPoint {
  readonly vm: string
  readonly mode: 'delta' | 'full' | 'unknown'
  readonly timestamp: number
  /** Raw images, one per disk; empty for a point that cannot be restored. */
  readonly disks: readonly Buffer[]
  /** Listed as unusable, with a reason matching this. */
  readonly unusable?: RegExp
  /** Listed as usable, but a restore fails with this error code. */
  readonly failsWith?: string
}

export interface Scenario {
  readonly builder: XoRemoteBuilder
  readonly points: Map<string, ExpectedPoint>
}

const vmRecord = (name: string): Record<string, unknown> => ({
  uuid: randomUUID(),
  name_label: name,
  name_description: 'from an XO remote',
  memory_static_max: 1073741824,
  VCPUs_max: 1,
  other_config: {},
  blocked_operations: {},
  tags: [],
})

export async function buildScenario(sink: RemoteSink, options: BuilderOptions = {}): Promise<Scenario> {
  const builder = await XoRemoteBuilder.create(sink, options)
  const points = new Map<string, ExpectedPoint>()
  await deltaVm(builder, points)
  await gzipVm(builder, points)
  await fullVm(builder, points)
  await badVm(builder, points)
  await builder.write(`xo-vm-backups/.queue/clean-vm/${fileDate(T0)}-abc123`, Buffer.from(VM.delta))
  return { builder, points }
}

/** Three points: a key VhdDirectory (brotli) and VHD files, then two deltas of each. */
async function deltaVm(b: XoRemoteBuilder, points: Map<string, ExpectedPoint>): Promise<void> {
  const disks = [new DiskImage(10 * 1024 * 1024), new DiskImage(6.5 * 1024 * 1024)]
  const lineages = [
    { jobId: JOB, vdiUuid: '11111111-0000-4000-8000-000000000000' },
    { jobId: JOB, vdiUuid: '11111111-0000-4000-8000-000000000001' },
  ]
  // On an encrypted remote XO writes VhdDirectories only.
  const kinds: VhdOptions[] = [
    { kind: 'directory', filters: ['brotli'] },
    b.encrypted ? { kind: 'directory', filters: ['gzip'] } : { kind: 'file' },
  ]
  const changes = [
    [
      [0, 2, 4],
      [0, 1, 3],
    ],
    [[1], [3]],
    [[2, 4], [0]],
  ]
  let parents: (LineageVhd | undefined)[] = [undefined, undefined]
  const ids: string[] = []
  for (const [p, change] of changes.entries()) {
    const timestamp = T0 + p * HOUR
    const vhds: LineageVhd[] = []
    for (const [d, disk] of disks.entries()) {
      const blocks = disk.write(change[d]!, `delta-${p}-${d}`)
      vhds.push(
        await b.addVhd(VM.delta, lineages[d]!, fileDate(timestamp), disk, blocks, kinds[d]!, parents[d]),
      )
    }
    parents = vhds
    const id = await b.deltaBackup(VM.delta, timestamp, {
      jobId: JOB,
      vmRecord: vmRecord('web'),
      disks: vhds.map((vhd, d) => ({
        vdiUuid: lineages[d]!.vdiUuid,
        vhd,
        name: `web disk ${d}`,
        size: disks[d]!.size,
      })),
      vifs: [
        {
          device: '0',
          MTU: 1500,
          MAC: '',
          other_config: {},
          $network$uuid: randomUUID(),
          $network$name_label: 'Pool-wide network associated with eth0',
        },
      ],
    })
    ids.push(id)
    points.set(id, { vm: VM.delta, mode: 'delta', timestamp, disks: disks.map((d) => d.copy()) })
  }
  await b.cache(VM.delta, [...ids.slice(0, 2), `${VM.delta}/20200101T000000Z`])
  // An interrupted merge's state file and XO's lock directory are reported, never touched.
  await b.write(
    `xo-vm-backups/${VM.delta}/vdis/${JOB}/${lineages[0]!.vdiUuid}/.${fileDate(T0)}.alias.vhd.merge.json`,
    Buffer.from('{}'),
  )
}

/** Two points of one disk in VhdDirectories: gzip, and none with an explicit '[]' filter file. */
async function gzipVm(b: XoRemoteBuilder, points: Map<string, ExpectedPoint>): Promise<void> {
  const disks = [new DiskImage(8 * 1024 * 1024, 'pattern'), new DiskImage(4 * 1024 * 1024)]
  const lineages = disks.map((_, d) => ({ jobId: JOB, vdiUuid: `22222222-0000-4000-8000-00000000000${d}` }))
  const kinds: VhdOptions[] = [
    { kind: 'directory', filters: ['gzip'] },
    { kind: 'directory', filters: [], filtersFile: true },
  ]
  let parents: (LineageVhd | undefined)[] = [undefined, undefined]
  for (const [p, change] of [
    [[0, 3], [1]],
    [[3], [0, 1]],
  ].entries()) {
    const timestamp = T0 + p * HOUR + 60_000
    const vhds: LineageVhd[] = []
    for (const [d, disk] of disks.entries()) {
      vhds.push(
        await b.addVhd(
          VM.gzip,
          lineages[d]!,
          fileDate(timestamp),
          disk,
          disk.write(change[d]!, `gz-${p}-${d}`),
          kinds[d]!,
          parents[d],
        ),
      )
    }
    parents = vhds
    const id = await b.deltaBackup(VM.gzip, timestamp, {
      jobId: JOB,
      vmRecord: vmRecord('db'),
      disks: vhds.map((vhd, d) => ({
        vdiUuid: lineages[d]!.vdiUuid,
        vhd,
        name: `db disk ${d}`,
        size: disks[d]!.size,
      })),
    })
    points.set(id, { vm: VM.gzip, mode: 'delta', timestamp, disks: disks.map((d) => d.copy()) })
  }
}

/** Full backups: XVAs compressed with gzip and zstd, and plain with SHA-1 checksums. */
async function fullVm(b: XoRemoteBuilder, points: Map<string, ExpectedPoint>): Promise<void> {
  const specs = [
    { compression: 'gzip', checksums: 'xxhash' },
    { compression: 'zstd', checksums: 'xxhash' },
    { compression: 'none', checksums: 'sha1' },
  ] as const
  for (const [p, spec] of specs.entries()) {
    const timestamp = T0 + p * HOUR + 120_000
    const a = new DiskImage(5 * 1024 * 1024)
    a.write([0, 2], `xva-${p}-a`)
    const c = new DiskImage(3 * 1024 * 1024)
    c.write([1], `xva-${p}-c`)
    const xva = await buildXva({
      vmName: 'files',
      disks: [
        { name: 'files 0', bytes: a.copy() },
        { name: 'files 1', bytes: c.copy() },
      ],
      ...spec,
    })
    const path = `xo-vm-backups/${VM.full}/${fileDate(timestamp)}.xva`
    await b.write(path, xva)
    if (!b.encrypted) await b.sink.put(`${path}.checksum`, xvaChecksum(xva))
    const id = await b.fullBackup(VM.full, timestamp, {
      jobId: JOB,
      vmRecord: vmRecord('files'),
      size: xva.length,
    })
    points.set(id, { vm: VM.full, mode: 'full', timestamp, disks: [a.copy(), c.copy()] })
  }
  await b.sink.put(`xo-vm-backups/${VM.full}/.${T0}.${fileDate(T0)}.xva`, Buffer.from('partial'))
}

/** Points broken one way each; the rest of the remote must stay readable. */
async function badVm(b: XoRemoteBuilder, points: Map<string, ExpectedPoint>): Promise<void> {
  const at = (n: number): number => T0 + n * HOUR + 180_000
  const lineage = { jobId: JOB, vdiUuid: '33333333-0000-4000-8000-000000000000' }
  const disk = new DiskImage(4 * 1024 * 1024)
  const add = async (
    n: number,
    o: { parent?: LineageVhd; kind?: 'file' | 'directory'; cut?: number } = {},
  ): Promise<LineageVhd> =>
    b.addVhd(
      VM.bad,
      lineage,
      fileDate(at(n)),
      disk,
      disk.write([n % 2], `bad-${n}`),
      { kind: o.kind ?? 'directory', filters: ['brotli'], cut: o.cut },
      o.parent,
    )
  const delta = (n: number, vhd: LineageVhd) =>
    b.deltaBackup(VM.bad, at(n), {
      jobId: JOB,
      vmRecord: vmRecord('broken'),
      disks: [{ vdiUuid: lineage.vdiUuid, vhd, name: 'broken 0', size: disk.size }],
    })
  const set = (id: string, n: number, e: Partial<ExpectedPoint>) =>
    points.set(id, { vm: VM.bad, mode: 'delta', timestamp: at(n), disks: [], ...e })

  await b.write(`xo-vm-backups/${VM.bad}/${fileDate(at(0))}.json`, Buffer.from('{"mode": "delta", "jobId": '))
  set(`${VM.bad}/${fileDate(at(0))}`, 0, { mode: 'unknown', unusable: /not JSON/ })

  const other = new DiskImage(disk.size) // the orphan's data belongs to no chain of the others
  const orphan = await b.addVhd(
    VM.bad,
    lineage,
    fileDate(at(1)),
    other,
    other.write([1], 'bad-1'),
    { kind: 'directory', filters: ['brotli'] },
    { path: `vdis/${JOB}/${lineage.vdiUuid}/20200101T000000Z.alias.vhd`, uuid: new Uint8Array(16).fill(7) },
  )
  set(await delta(1, orphan), 1, { unusable: /parent of .* is missing/ })

  const key = await add(2)
  const good = disk.copy()
  set(await delta(2, key), 2, { disks: [good] })
  // A block altered after the fact: found only when read (authentication, or the compression, fails).
  const blockFile = `xo-vm-backups/${VM.bad}/vdis/${JOB}/${lineage.vdiUuid}/data/${fileDate(at(3))}.vhd/blocks/0/1`
  const tampered = await add(3, { parent: key })
  await b.sink.put(blockFile, Buffer.from('not a block at all, and not what was written there'))
  set(await delta(3, tampered), 3, {
    disks: [disk.copy()],
    failsWith: b.encrypted ? 'XO_AUTH_FAILED' : 'XO_VHD_DIRECTORY_INVALID',
  })

  const self = `vdis/${JOB}/${lineage.vdiUuid}/${fileDate(at(4))}.alias.vhd`
  await b.write(`xo-vm-backups/${VM.bad}/${self}`, Buffer.from(`${fileDate(at(2))}.alias.vhd`))
  set(await delta(4, { path: self, uuid: key.uuid }), 4, { unusable: /another alias/ })

  const escape = `vdis/${JOB}/${lineage.vdiUuid}/${fileDate(at(5))}.alias.vhd`
  await b.write(`xo-vm-backups/${VM.bad}/${escape}`, Buffer.from('../../../../../../../etc/passwd'))
  set(await delta(5, { path: escape, uuid: key.uuid }), 5, { unusable: /leaves the remote/ })

  if (!b.encrypted) {
    // A VHD file cut short inside its block: its trailing footer is gone.
    const file = await add(6, { kind: 'file', cut: 1536 + 512 + 4096 })
    set(await delta(6, file), 6, { unusable: /footer/ })
  }
}
