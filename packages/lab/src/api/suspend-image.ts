// Suspend VDIs: VM.suspend and VM.checkpoint write the running guest's memory image (memory-image.ts)
// into a new VDI of type `suspend` on the VM's suspend_SR, else the pool's suspend_image_SR, else its
// default SR; VM.resume reads it back, checks it and records what it resumed (lab.resumedMemory).
import { XapiFailure } from '../db/failure.js'
import { NULL, xapiDate } from '../db/schema.js'
import { makeMemoryImage, readMemoryHeader, sha256, type MemoryHeader } from '../memory-image.js'
import type { ResumedMemory } from '../guest-agent.js'
import type { LabState } from './lab-state.js'
import { createVdi } from './vdi-methods.js'

/** Largest suspend VDI VM.resume reads whole (the lab's images are a few MiB). */
const MAX_IMAGE_BYTES = 256 * 1024 * 1024

function suspendSr(lab: LabState, vm: string): string {
  const own = String(lab.db.get('VM', vm).suspend_SR)
  if (own !== NULL && lab.db.has('SR', own)) return own
  const [[, pool] = []] = lab.db.find('pool', () => true)
  const image = String(pool?.suspend_image_SR ?? NULL)
  if (image !== NULL && lab.db.has('SR', image)) return image
  return String(pool?.default_SR ?? NULL)
}

/** The running guest's memory, saved into a new suspend VDI; returns the VDI. */
export async function saveMemory(lab: LabState, vm: string, snapshot: boolean): Promise<string> {
  const row = lab.db.get('VM', vm)
  const header: MemoryHeader = {
    vm: String(row.uuid),
    name: String(row.name_label),
    booted: lab.agents.state(vm) === 'running',
    vmData: lab.agents.vmData(vm),
    os: lab.agents.osVersion(vm),
    taken: new Date().toISOString(),
  }
  const image = makeMemoryImage(header, lab.memoryImageBytes)
  const vdi = await createVdi(lab, {
    name_label: 'Suspend image',
    name_description: `Memory image of ${String(row.name_label)}`,
    SR: suspendSr(lab, vm),
    virtual_size: image.length,
    type: 'suspend',
    sharable: false,
    read_only: false,
    other_config: {},
  })
  await lab.disks.write(vdi, 0, image)
  // A checkpoint's image is a snapshot of the temporary image xapi writes, then destroys.
  if (snapshot) lab.db.update('VDI', vdi, { is_a_snapshot: true, snapshot_time: xapiDate() })
  return vdi
}

/** Reads and checks a suspend VDI; what VM.resume restores. */
export async function loadMemory(lab: LabState, vm: string): Promise<ResumedMemory> {
  const vdi = String(lab.db.get('VM', vm).suspend_VDI)
  if (vdi === NULL || !lab.db.has('VDI', vdi) || !lab.disks.has(vdi))
    throw new XapiFailure('VM_HAS_NO_SUSPEND_VDI', [vm])
  const size = lab.disks.size(vdi)
  const restoreFailure = new XapiFailure('INTERNAL_ERROR', [
    `xenopsd internal error: Domain.Restore_signature_mismatch (suspend VDI ${String(lab.db.get('VDI', vdi).uuid)})`,
  ])
  if (size > MAX_IMAGE_BYTES) throw restoreFailure
  const image = await lab.disks.read(vdi, 0, size)
  const header = readMemoryHeader(image)
  if (header === undefined) throw restoreFailure
  return { sha256: sha256(image), size, header }
}
