// A temporary VM (a health check's, a replica being replaced) destroyed with its disks, dom0 waited out:
// right after an import or a restore, dom0 may still hold a disk for a moment (VDI_IN_USE). The disks are
// listed before the VM goes, each destroyed on its own, so a disk that was refused at first is not
// forgotten when the VM is already gone (retrying the whole destroy would find no VM and no disks).
import { isXapiError, undoCall, vmDiskVdis, type Ref, type XapiClient } from '../../xapi/index.js'

export async function destroyVmAndDisks(xapi: XapiClient, vm: Ref, signal: AbortSignal): Promise<void> {
  let vdis: Ref[]
  try {
    vdis = await vmDiskVdis(xapi, vm, signal)
  } catch (error) {
    if (isXapiError(error, 'HANDLE_INVALID')) return
    throw error
  }
  await undoCall(() => xapi.call('VM.destroy', [vm], signal), signal)
  for (const vdi of vdis) await undoCall(() => xapi.call('VDI.destroy', [vdi], signal), signal)
}
