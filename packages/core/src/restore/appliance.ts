// Starting the libguestfs appliance on a served restore point: KVM when it works here, else TCG (said
// in the task as a warning), and TCG again when KVM passed the probe but aborted the appliance.
import type { TaskContext } from '../shared/index.js'
import { chooseAccelerator } from './accelerator.js'
import { Guestfish, launchFailure } from './guestfish.js'
import { listSyntax, quoteArg } from './guestfish-syntax.js'

/** What starting an appliance takes of a session's options (FileRestoreOptions has them). */
export interface LaunchOptions {
  readonly launchTimeoutMs?: number
  readonly callTimeoutMs?: number
  readonly signal?: AbortSignal
}

export async function launch(
  workDir: string,
  socket: string,
  options: LaunchOptions,
  task: TaskContext,
): Promise<{ guestfish: Guestfish; accel: 'kvm' | 'tcg' }> {
  const accel = await chooseAccelerator()
  if (accel.kind === 'tcg')
    task.warn(
      `KVM is unusable here (${accel.reason}): the appliance runs under TCG, slower to start (about 20 s)`,
    )
  try {
    return {
      guestfish: await launchAppliance(workDir, socket, accel.kind === 'tcg', options),
      accel: accel.kind,
    }
  } catch (error) {
    // KVM that passed the probe can still abort a real guest: one more try under TCG.
    if (accel.kind === 'tcg' || !/MSR|kvm|signal 6|Aborted/i.test((error as Error).message)) throw error
    task.warn(
      `the appliance failed with KVM (${(error as Error).message.slice(0, 200)}): trying again under TCG`,
    )
    return { guestfish: await launchAppliance(workDir, socket, true, options), accel: 'tcg' }
  }
}

export async function launchAppliance(
  workDir: string,
  socket: string,
  tcg: boolean,
  options: LaunchOptions,
): Promise<Guestfish> {
  const guestfish = new Guestfish({ workDir, tcg, callTimeoutMs: options.callTimeoutMs ?? 120_000 })
  try {
    const server = Buffer.concat([Buffer.from('server:'), listSyntax([`unix:${socket}`])])
    await guestfish.call(
      'add-drive',
      [
        quoteArg('disk'),
        quoteArg('protocol:nbd'),
        quoteArg(server),
        quoteArg('format:raw'),
        quoteArg('readonly:true'),
      ],
      { signal: options.signal },
    )
    await guestfish.call('run', [], { timeoutMs: options.launchTimeoutMs ?? 300_000, signal: options.signal })
    return guestfish
  } catch (error) {
    await guestfish.close()
    throw launchFailure(
      `the libguestfs appliance did not start${tcg ? ' (TCG)' : ''}: ${(error as Error).message}`,
      error,
    )
  }
}
