// A differential restore onto an existing VDI: only the blocks that differ from the restore point are
// rewritten. Which ones: by CBT when the point's snapshot is still on the pool (nothing read), else by
// reading the VDI over NBD and comparing each chunk's id with the point's. Then one VHD import of just
// the point's blocks covering them. Refused before anything is written when the VDI does not exist, is
// not the point's size, or belongs to a VM that is not halted. The task tree carries the figures.
import { openVdiNbd } from '../disks/index.js'
import { isPointMetadata } from '../engine/vm-metadata.js'
import { DiskReader, readManifest, resolvePoint, type Repository } from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'
import type { VhdPlan } from '../vhd/index.js'
import {
  findByUuid,
  importVdi,
  record,
  vbdRecordsOf,
  type Ref,
  type XapiClient,
  type XapiRecord,
} from '../xapi/index.js'
import { changedSincePoint, type PointDiskOrigin } from './differential-cbt.js'
import {
  DifferentialRestoreError,
  differentialVhdBytes,
  findDifferences,
  planDifferentialVhd,
} from './differential.js'

export interface DifferentialRestoreOptions {
  readonly repository: Repository
  readonly pointId: string
  /** The disk of the point (0-based). */
  readonly disk: number
  /** The VDI rewritten: of the point's disk's size, and in no VM that is not halted. */
  readonly vdiUuid: string
  /** NBD connections to read the VDI with, on the compare path (default 4). */
  readonly nbdConnections?: number
  /** Told of the snapshot taken to ask CBT as soon as it exists (removed again before this returns). */
  readonly onCreated?: (object: { class: 'VDI'; ref: Ref }) => void
}

export interface DifferentialRestoreResult {
  readonly vdiUuid: string
  /** How the differing blocks were found. */
  readonly path: 'cbt' | 'compare'
  readonly size: number
  /** Bytes of the disk checked against the point (all of it, either way). */
  readonly comparedBytes: number
  /** Bytes read from the VDI to compare (none by CBT). */
  readonly readBytes: number
  /** Bytes of the point's chunks found differing (or changed, by CBT). */
  readonly differingBytes: number
  /** Bytes of data written into the VDI: the VHD blocks covering those chunks. */
  readonly rewrittenBytes: number
  /** Bytes of the VHD sent (data, bitmaps, metadata). */
  readonly sentBytes: number
}

const VHD_BLOCK = 2 * 1024 * 1024

export async function restoreDiskDifferential(
  task: TaskContext,
  xapi: XapiClient,
  o: DifferentialRestoreOptions,
): Promise<DifferentialRestoreResult> {
  const { signal } = task
  const ref = await resolvePoint(o.repository, o.pointId, signal)
  const manifest = await readManifest(o.repository, ref, signal)
  using reader = await DiskReader.open(o.repository, ref, o.disk, signal)
  const target = await checkTarget(xapi, o.vdiUuid, reader.size, signal)
  task.set({ vdiUuid: o.vdiUuid, disk: o.disk, size: reader.size })
  const found = await findChunks(task, xapi, target, reader, originOf(manifest.vm.metadata, o.disk), o)
  const plan = planDifferentialVhd(reader, found.chunks)
  const rewrittenBytes = [...plan.blockIndexes].reduce(
    (n, b) => n + Math.min(VHD_BLOCK, reader.size - b * VHD_BLOCK),
    0,
  )
  if (plan.blockIndexes.length > 0)
    await task.child('transfer', (t) => rewriteBlocks(t, xapi, target.ref, reader, plan), {
      vdiUuid: o.vdiUuid,
      blocks: plan.blockIndexes.length,
      bytes: rewrittenBytes,
    })
  const result: DifferentialRestoreResult = {
    vdiUuid: o.vdiUuid,
    path: found.path,
    size: reader.size,
    comparedBytes: reader.size,
    readBytes: found.readBytes,
    differingBytes: found.chunks.reduce((n, i) => n + reader.chunkLength(i), 0),
    rewrittenBytes,
    sentBytes: plan.blockIndexes.length > 0 ? plan.length : 0,
  }
  task.set({ ...result })
  return result
}

/** One VHD import of the planned blocks into the VDI; progress counts the VHD's bytes as they leave. */
async function rewriteBlocks(
  task: TaskContext,
  xapi: XapiClient,
  vdi: Ref,
  reader: DiskReader,
  plan: VhdPlan,
): Promise<void> {
  const total = plan.length
  async function* counted(): AsyncGenerator<Uint8Array> {
    let done = 0
    for await (const piece of differentialVhdBytes(reader, plan, task.signal)) {
      yield piece
      done += piece.length
      task.progress({ done, total })
    }
  }
  await importVdi(xapi, vdi, { open: counted, length: total }, { format: 'vhd', signal: task.signal })
}

interface Target {
  readonly ref: Ref
  readonly record: XapiRecord
}

/** The VDI, refused unless it is the point's size and no VM but a halted one has it. */
async function checkTarget(
  xapi: XapiClient,
  uuid: string,
  size: number,
  signal: AbortSignal,
): Promise<Target> {
  const ref = await findByUuid(xapi, 'VDI', uuid, signal)
  if (ref === undefined)
    throw new DifferentialRestoreError('VDI_NOT_FOUND', `VDI ${uuid} does not exist on the pool`)
  const vdi = await record(xapi, 'VDI', ref, signal)
  if (Number(vdi.virtual_size) !== size)
    throw new DifferentialRestoreError(
      'DISK_SIZE_MISMATCH',
      `VDI ${uuid} is ${String(vdi.virtual_size)} bytes and the restore point's disk ${size}: a differential restore needs the same size`,
      { details: { vdi: uuid, vdiSize: Number(vdi.virtual_size), pointSize: size } },
    )
  // dom0's VBDs (an NBD connection, an export or an import that just ended) come and go meanwhile.
  for (const vbd of await vbdRecordsOf(xapi, (vdi.VBDs as Ref[] | undefined) ?? [], signal)) {
    const vm = await record(xapi, 'VM', String(vbd.record.VM), signal)
    if (vm.is_control_domain === true || vm.power_state === 'Halted') continue
    throw new DifferentialRestoreError(
      'VDI_IN_USE_BY_VM',
      `VDI ${uuid} is a disk of VM '${String(vm.name_label)}' (${String(vm.uuid)}), which is ${String(vm.power_state)}: shut it down first`,
      { details: { vdi: uuid, vm: String(vm.uuid), powerState: String(vm.power_state) } },
    )
  }
  return { ref, record: vdi }
}

function originOf(metadata: unknown, disk: number): PointDiskOrigin | undefined {
  return isPointMetadata(metadata) ? metadata.disks[disk] : undefined
}

interface Found {
  readonly path: 'cbt' | 'compare'
  readonly chunks: number[]
  readonly readBytes: number
}

/** The chunks to rewrite: by CBT if it can tell, else by reading the VDI and comparing. */
async function findChunks(
  task: TaskContext,
  xapi: XapiClient,
  target: Target,
  reader: DiskReader,
  origin: PointDiskOrigin | undefined,
  o: DifferentialRestoreOptions,
): Promise<Found> {
  const byCbt = await changedSincePoint(task, xapi, target, origin, reader, o.onCreated)
  if (byCbt !== undefined) return { path: 'cbt', chunks: byCbt, readBytes: 0 }
  return task.child(
    'compare',
    async (t) => {
      const nbd = await openVdiNbd(xapi, target.ref, { connections: o.nbdConnections, signal: t.signal })
      if (nbd === undefined)
        throw new DifferentialRestoreError(
          'NBD_UNAVAILABLE',
          `VDI ${o.vdiUuid} cannot be read to compare it: no network of the pool has an NBD purpose`,
        )
      try {
        const found = await findDifferences(o.repository, reader, nbd, {
          signal: t.signal,
          onProgress: (done) => t.progress({ done, total: reader.size }),
        })
        return { path: 'compare' as const, chunks: found.chunks, readBytes: found.comparedBytes }
      } finally {
        await nbd.close()
      }
    },
    { vdiUuid: o.vdiUuid },
  )
}
