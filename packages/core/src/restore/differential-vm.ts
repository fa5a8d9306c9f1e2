// A VM restored onto itself: when the VM a point was taken of still exists on the pool, is halted and
// still has the point's disks at their sizes, each disk is rewritten in place where it differs from the
// point (differential-vdi.ts) instead of a new VM being created. findInPlaceTarget says whether that is
// possible (the server asks before it offers it) and why not, before anything is written.
import { isPointMetadata } from '../engine/vm-metadata.js'
import { readManifest, resolvePoint, type Manifest, type Repository } from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'
import { findByUuid, isDiskVbd, record, vbdRecordsOf, type Ref, type XapiClient } from '../xapi/index.js'
import { DifferentialRestoreError } from './differential.js'
import { restoreDiskDifferential, type DifferentialRestoreResult } from './differential-vdi.js'

export interface InPlaceTarget {
  readonly vmUuid: string
  readonly vmName: string
  /** Each disk of the point and the VDI of the VM it is rewritten onto. */
  readonly disks: { readonly index: number; readonly vdiUuid: string }[]
}

/** The VM of the point, halted, with the point's disks at their sizes; else why not (typed). */
export async function findInPlaceTarget(
  xapi: XapiClient,
  manifest: Manifest,
  signal?: AbortSignal,
): Promise<InPlaceTarget> {
  const meta = manifest.vm.metadata
  if (!isPointMetadata(meta))
    throw new DifferentialRestoreError('NOT_A_VM_POINT', 'the restore point holds no VM to restore onto')
  const vmUuid = String(meta.vm.uuid)
  const ref = await findByUuid(xapi, 'VM', vmUuid, signal)
  if (ref === undefined)
    throw new DifferentialRestoreError('VM_NOT_FOUND', `VM ${vmUuid} of the restore point is not on the pool`)
  const vm = await record(xapi, 'VM', ref, signal)
  const vmName = String(vm.name_label)
  if (vm.power_state !== 'Halted')
    throw new DifferentialRestoreError(
      'VM_NOT_HALTED',
      `VM '${vmName}' (${vmUuid}) is ${String(vm.power_state)}: shut it down to restore onto it`,
    )
  const own = await vmVdis(xapi, (vm.VBDs as Ref[] | undefined) ?? [], signal)
  const disks = meta.disks.map((disk, index) => {
    const size = own.get(disk.source)
    if (size === undefined)
      throw new DifferentialRestoreError(
        'VM_DISKS_CHANGED',
        `VDI ${disk.source} (disk ${index} of the point) is no longer a disk of VM '${vmName}'`,
      )
    if (size !== manifest.disks[index]?.size)
      throw new DifferentialRestoreError(
        'DISK_SIZE_MISMATCH',
        `VDI ${disk.source} of VM '${vmName}' is ${size} bytes and disk ${index} of the point ${String(manifest.disks[index]?.size)}`,
      )
    return { index, vdiUuid: disk.source }
  })
  return { vmUuid, vmName, disks }
}

/** The VM's disks: uuid → size. */
async function vmVdis(
  xapi: XapiClient,
  vbds: readonly Ref[],
  signal?: AbortSignal,
): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const { record: r } of await vbdRecordsOf(xapi, vbds, signal)) {
    if (!isDiskVbd(r)) continue
    const vdi = await record(xapi, 'VDI', r.VDI as Ref, signal)
    out.set(String(vdi.uuid), Number(vdi.virtual_size))
  }
  return out
}

export interface VmDifferentialOptions {
  readonly repository: Repository
  readonly pointId: string
  /** Told of each VDI created on the way (a snapshot to ask CBT, removed again). */
  readonly onCreated?: (object: { class: 'VDI'; ref: Ref }) => void
}

/** Rewrites each disk of the point's VM where it differs; the figures add up on the task. */
export async function restoreVmDifferential(
  task: TaskContext,
  xapi: XapiClient,
  o: VmDifferentialOptions,
): Promise<{ vmUuid: string; vmName: string }> {
  const ref = await resolvePoint(o.repository, o.pointId, task.signal)
  const target = await findInPlaceTarget(
    xapi,
    await readManifest(o.repository, ref, task.signal),
    task.signal,
  )
  task.set({ vmUuid: target.vmUuid, vmName: target.vmName, differential: true })
  const results: DifferentialRestoreResult[] = []
  for (const { index, vdiUuid } of target.disks) {
    const options = { ...o, disk: index, vdiUuid }
    results.push(
      await task.child('disk', (t) => restoreDiskDifferential(t, xapi, options), { disk: index, vdiUuid }),
    )
  }
  const sum = (key: 'comparedBytes' | 'readBytes' | 'rewrittenBytes') =>
    results.reduce((n, r) => n + r[key], 0)
  const paths = [...new Set(results.map((r) => r.path))].join('+')
  task.set({
    path: paths,
    comparedBytes: sum('comparedBytes'),
    readBytes: sum('readBytes'),
    rewrittenBytes: sum('rewrittenBytes'),
  })
  return { vmUuid: target.vmUuid, vmName: target.vmName }
}
