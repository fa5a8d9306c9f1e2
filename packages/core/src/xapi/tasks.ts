// Async calls and tasks: `Async.<Class>.<method>` returns a task ref; the task is watched until it ends,
// its result (an XML-RPC value string, even over JSON-RPC) decoded, and on abort `task.cancel` is sent.
import { AbortedError, sleep, StrataError } from '../shared/index.js'
import { decodeXmlRpcValue, type XmlRpcValue } from './codec/xmlrpc-value.js'
import type { Ref, XapiClient } from './xapi-client.js'
import { XapiError, isXapiError } from './xapi-error.js'

export interface TaskRecord {
  uuid: string
  name_label: string
  status: 'pending' | 'success' | 'failure' | 'cancelling' | 'cancelled'
  progress: number
  result: string
  error_info: string[]
  [field: string]: unknown
}

/** The task vanished before it ended (toolstack restart, GC): its outcome is unknown. */
export class XapiTaskLostError extends StrataError {
  constructor(task: string, cause?: unknown) {
    super('XAPI_TASK_LOST', `task ${task} disappeared before it ended`, { cause, retryable: true })
  }
}

export interface WaitTaskOptions {
  signal?: AbortSignal
  onProgress?: (progress: number) => void
  /** Polling interval bounds (ms); polling backs off from min to max. */
  minIntervalMs?: number
  maxIntervalMs?: number
}

/** Waits until the task ends; returns its decoded result or throws its error as XapiError. */
export async function waitTask(
  client: XapiClient,
  task: Ref,
  options: WaitTaskOptions = {},
): Promise<XmlRpcValue> {
  const { signal, minIntervalMs = 20, maxIntervalMs = 500 } = options
  let interval = minIntervalMs
  for (;;) {
    if (signal?.aborted) {
      await cancelTask(client, task)
      throw new AbortedError(signal.reason)
    }
    let record: TaskRecord
    try {
      record = await client.call<TaskRecord>('task.get_record', [task], signal)
    } catch (error) {
      if (isXapiError(error, 'HANDLE_INVALID')) throw new XapiTaskLostError(task, error)
      if (signal?.aborted) continue
      throw error
    }
    const outcome = taskOutcome(record)
    if (outcome !== undefined) return outcome()
    options.onProgress?.(record.progress)
    try {
      await sleep(interval, signal)
    } catch {
      continue
    }
    interval = Math.min(maxIntervalMs, interval * 2)
  }
}

/** undefined while pending; else a thunk returning the result or throwing the failure. */
export function taskOutcome(record: TaskRecord): (() => XmlRpcValue) | undefined {
  switch (record.status) {
    case 'success':
      return () => decodeXmlRpcValue(record.result)
    case 'failure':
    case 'cancelled': {
      const [code = 'INTERNAL_ERROR', ...params] = record.error_info
      return () => {
        throw new XapiError(
          record.status === 'cancelled' && code === '' ? 'TASK_CANCELLED' : code,
          params,
          record.name_label,
        )
      }
    }
    default:
      return undefined
  }
}

/** Best effort: XAPI cancels at the operation's next checkpoint; errors (task gone) are irrelevant. */
export async function cancelTask(client: XapiClient, task: Ref): Promise<void> {
  try {
    await client.call('task.cancel', [task], AbortSignal.timeout(10_000))
  } catch {
    // The task may have ended or vanished meanwhile.
  }
}

/** Destroys a finished task so it does not linger in the pool's task list. */
export async function destroyTask(client: XapiClient, task: Ref): Promise<void> {
  try {
    await client.call('task.destroy', [task], AbortSignal.timeout(10_000))
  } catch {
    // Already gone (GC, toolstack restart): nothing left to clean.
  }
}

/** Runs `Async.<method>` and waits for its task; the task is destroyed afterwards. */
export async function callAsync<T extends XmlRpcValue = XmlRpcValue>(
  client: XapiClient,
  method: string,
  params: unknown[],
  options: WaitTaskOptions = {},
): Promise<T> {
  const task = await client.call<Ref>(`Async.${method}`, params, options.signal)
  try {
    return (await waitTask(client, task, options)) as T
  } finally {
    await destroyTask(client, task)
  }
}

/** A client-owned task for HTTP transfers (`task_id=`): the handler drives it to its end. */
export async function createTask(client: XapiClient, label: string, signal?: AbortSignal): Promise<Ref> {
  return client.call<Ref>('task.create', [label, 'strata'], signal)
}
