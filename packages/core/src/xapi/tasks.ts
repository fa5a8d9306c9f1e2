// Async calls and tasks: `Async.<Class>.<method>` returns a task ref; the task is watched until it ends
// (through the pool's event loop when given one, else by polling),
// its result (an XML-RPC value string, even over JSON-RPC) decoded, and on abort `task.cancel` is sent.
import { AbortedError, sleep, StrataError } from '../shared/index.js'
import { decodeXmlRpcValue, type XmlRpcValue } from './codec/xmlrpc-value.js'
import type { Ref, XapiClient } from './xapi-client.js'
import type { XapiEventLoop } from './event-loop.js'
import type { CacheChange, ObjectCache } from './object-cache.js'
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
  /** Watch the task through this pool's event loop instead of polling task.get_record. */
  events?: XapiEventLoop
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
  const { signal, minIntervalMs = 20, maxIntervalMs = 500, events } = options
  events?.subscribe('task')
  let interval = minIntervalMs
  let first = true
  for (;;) {
    if (signal?.aborted) {
      await cancelTask(client, task)
      throw new AbortedError(signal.reason)
    }
    let record: TaskRecord
    const cached = events?.cache.get('task', task) as TaskRecord | undefined
    if (events !== undefined && cached === undefined && first) {
      // A task just created: its first event is usually on its way; poll only if it does not come.
      first = false
      await nextTaskEvent(events.cache, task, 250, signal)
      continue
    }
    try {
      record = cached ?? (await client.call<TaskRecord>('task.get_record', [task], signal))
    } catch (error) {
      if (isXapiError(error, 'HANDLE_INVALID')) throw new XapiTaskLostError(task, error)
      if (signal?.aborted) continue
      throw error
    }
    const outcome = taskOutcome(record)
    if (outcome !== undefined) return outcome()
    options.onProgress?.(record.progress)
    // With an event loop, wake on the task's next event; a slow poll still covers lost events.
    const pause =
      events === undefined ? sleep(interval, signal) : nextTaskEvent(events.cache, task, 5000, signal)
    await pause.catch(() => undefined)
    interval = Math.min(maxIntervalMs, interval * 2)
  }
}

/** Resolves on the next cache change of `ref`, a cache reset, the timeout or an abort. */
function nextTaskEvent(cache: ObjectCache, ref: Ref, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      cache.off('change', onChange)
      cache.off('clear', done)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const onChange = (change: CacheChange): void => {
      if (change.ref === ref) done()
    }
    const timer = setTimeout(done, timeoutMs)
    cache.on('change', onChange)
    cache.on('clear', done)
    signal?.addEventListener('abort', done, { once: true })
  })
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
