// A health check boots what a backup or a replication saved and waits for its guest: a temporary VM
// without network, started (or resumed: a replica with memory), then its guest metrics (the guest agent
// reports once the OS is up), then, when asked, the result of the guest's check script, which it writes
// under vm-data (XAPI mirrors it into VM.xenstore_data: `vm-data/xo-backup-health-check` = success or
// failure, XO's key, with `…-error`). The temporary VM is tagged from its creation so that a check cut
// short (a server stopped, a process killed) is found and destroyed later (health-sweep.ts).
import { StrataError, sleep, throwIfAborted, type TaskContext } from '../../shared/index.js'
import { NULL_REF, callAsync, record, type Ref, type XapiClient, type XapiRecord } from '../../xapi/index.js'

/** Every temporary VM of a health check has this tag (and `strata:no-bak`, so no job selects it). */
export const HEALTH_CHECK_TAG = 'strata:health-check'
/** `strata:health-check:until=<ISO time>`: when an unfinished check's VM is abandoned. */
export const HEALTH_CHECK_UNTIL = 'strata:health-check:until='
/** `strata:health-check:owner=<id>`: who runs the check (a server sweeps its own at start). */
export const HEALTH_CHECK_OWNER = 'strata:health-check:owner='
/** Names start so, from the VM's creation (a clone is named in the same call that makes it). */
export const HEALTH_CHECK_NAME = '[Strata health check] '

export const GUEST_CHECK_KEY = 'vm-data/xo-backup-health-check'
export const GUEST_CHECK_ERROR_KEY = 'vm-data/xo-backup-health-check-error'

export type HealthCheckCode = 'HEALTH_CHECK_TIMEOUT' | 'HEALTH_CHECK_FAILED'

export class HealthCheckError extends StrataError {
  declare readonly code: HealthCheckCode
  constructor(code: HealthCheckCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options)
  }
}

export interface HealthCheckOptions {
  /** From the start to the guest's report (and its script's result). */
  readonly timeoutMs: number
  /** Also wait for the guest's check script (GUEST_CHECK_KEY). */
  readonly guestCheck: boolean
  /** Who runs it (the server's id): its own leftovers are swept when it starts again. */
  readonly owner?: string
  /** How often XAPI is asked (default 250 ms). */
  readonly pollMs?: number
}

export interface HealthCheckResult {
  readonly status: 'success'
  /** From the start (or resume) to the guest's report. */
  readonly bootMs: number
  /** What the guest said it runs (its os_version name). */
  readonly os?: string
  readonly guestCheck?: 'success'
}

/** The tags a check VM is created with. */
export function healthCheckTags(o: HealthCheckOptions, now = Date.now()): string[] {
  // Abandoned after its own timeout and a margin for the boot and the cleanup.
  const until = new Date(now + o.timeoutMs + 10 * 60_000).toISOString()
  const owner = o.owner === undefined ? [] : [`${HEALTH_CHECK_OWNER}${o.owner}`]
  return [HEALTH_CHECK_TAG, `${HEALTH_CHECK_UNTIL}${until}`, ...owner, 'strata:no-bak=health check']
}

/** Starts (or resumes) the check VM and waits for its guest; the caller destroys the VM. */
export async function bootAndWait(
  task: TaskContext,
  xapi: XapiClient,
  vm: Ref,
  o: HealthCheckOptions,
): Promise<HealthCheckResult> {
  const { signal } = task
  const started = Date.now()
  const deadline = started + o.timeoutMs
  for (const op of ['start', 'start_on'])
    await xapi.call('VM.remove_from_blocked_operations', [vm, op], signal)
  const power = String(await xapi.call('VM.get_power_state', [vm], signal))
  if (power === 'Suspended') await callAsync(xapi, 'VM.resume', [vm, false, false], { signal })
  else await callAsync(xapi, 'VM.start', [vm, false, false], { signal })
  task.info(power === 'Suspended' ? 'resumed: waiting for the guest' : 'started: waiting for the guest')
  const metrics = await waitFor(task, deadline, o, () => guestMetrics(xapi, vm, signal))
  if (metrics === undefined)
    throw timeout(o, 'the guest never reported (no bootable disk, or no guest agent)')
  const bootMs = Date.now() - started
  const os = String((metrics.os_version as Record<string, unknown> | undefined)?.name ?? '') || undefined
  task.set({ bootMs, ...(os === undefined ? {} : { os }) })
  if (!o.guestCheck) return { status: 'success', bootMs, ...(os === undefined ? {} : { os }) }
  const data = await waitFor(task, deadline, o, () => guestResult(xapi, vm, signal))
  if (data === undefined)
    throw timeout(o, `the guest reported but its check script never wrote ${GUEST_CHECK_KEY}`)
  if (data[GUEST_CHECK_KEY] !== 'success') {
    const why = data[GUEST_CHECK_ERROR_KEY] ?? `${GUEST_CHECK_KEY} = '${data[GUEST_CHECK_KEY]}'`
    throw new HealthCheckError('HEALTH_CHECK_FAILED', `the guest's check script failed: ${why}`)
  }
  return { status: 'success', bootMs, ...(os === undefined ? {} : { os }), guestCheck: 'success' }
}

function timeout(o: HealthCheckOptions, why: string): HealthCheckError {
  return new HealthCheckError(
    'HEALTH_CHECK_TIMEOUT',
    `timeout after ${Math.round(o.timeoutMs / 1000)} s: ${why}`,
  )
}

/** Polls `probe` until it gives a value or the deadline passes (undefined). */
async function waitFor<T>(
  task: TaskContext,
  deadline: number,
  o: HealthCheckOptions,
  probe: () => Promise<T | undefined>,
): Promise<T | undefined> {
  for (;;) {
    throwIfAborted(task.signal)
    const value = await probe()
    if (value !== undefined) return value
    const left = deadline - Date.now()
    if (left <= 0) return undefined
    await sleep(Math.min(o.pollMs ?? 250, left), task.signal)
  }
}

async function guestMetrics(xapi: XapiClient, vm: Ref, signal: AbortSignal): Promise<XapiRecord | undefined> {
  const ref = await xapi.call<Ref>('VM.get_guest_metrics', [vm], signal)
  if (ref === NULL_REF) return undefined
  return record(xapi, 'VM_guest_metrics', ref, signal).catch(() => undefined)
}

async function guestResult(
  xapi: XapiClient,
  vm: Ref,
  signal: AbortSignal,
): Promise<Record<string, string> | undefined> {
  const data = (await xapi.call<Record<string, string>>('VM.get_xenstore_data', [vm], signal)) ?? {}
  const value = data[GUEST_CHECK_KEY]
  return value === 'success' || value === 'failure' ? data : undefined
}
