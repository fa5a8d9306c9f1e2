// The TaskContext the engine hands to long work: each node of a run's task tree (run → VM → snapshot /
// transfer / retention) emits events as things happen (start, info, warning, progress, facts, end). The
// events are the only output: a log file, a worker's parent or a UI rebuilds the tree from them
// (task-view.ts), so a run seen live and a run read back from disk look the same.
import {
  AbortedError,
  StrataError,
  errorCode,
  errorMessage,
  type TaskContext,
  type TaskProgress,
  type TaskStatus,
} from '../shared/index.js'

export interface TaskError {
  readonly code: string
  readonly message: string
}

interface EventBase {
  readonly id: string
  /** Milliseconds since the epoch. */
  readonly time: number
}

export type TaskEvent =
  | (EventBase & {
      readonly type: 'start'
      readonly parentId?: string
      readonly name: string
      readonly data?: Record<string, unknown>
    })
  | (EventBase & { readonly type: 'end'; readonly status: TaskStatus; readonly error?: TaskError })
  | (EventBase & {
      readonly type: 'info' | 'warning'
      readonly message: string
      readonly data?: Record<string, unknown>
    })
  | (EventBase & { readonly type: 'progress'; readonly done: number; readonly total?: number })
  | (EventBase & { readonly type: 'set'; readonly data: Record<string, unknown> })

/** Thrown inside a task to end it as 'skipped' (nothing to do, e.g. no VM matched). */
export class TaskSkipped extends StrataError {
  constructor(reason: string) {
    super('SKIPPED', reason)
  }
}

/**
 * Thrown by a task whose work was done but a check of it failed (a health check): the task ends
 * 'warning' (orange), and `result` is what the work produced all the same.
 */
export class TaskWarning extends StrataError {
  constructor(
    code: string,
    message: string,
    readonly result?: unknown,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options)
  }
}

/** The abort reason of a run that exceeded its timeout: its tasks fail instead of being 'interrupted'. */
export class RunTimeoutError extends StrataError {
  constructor(ms: number) {
    super('RUN_TIMEOUT', `the run exceeded its timeout of ${Math.round(ms / 1000)} s`)
  }
}

export interface TaskTreeOptions {
  readonly emit: (event: TaskEvent) => void
  readonly signal: AbortSignal
  /** Minimum time between two progress events of one task (the last one always goes out). */
  readonly progressIntervalMs?: number
  readonly now?: () => number
  readonly idPrefix?: string
}

/** Runs `fn` as the root task of a tree. Its status follows the same rules as any child. */
export function runRootTask<T>(
  options: TaskTreeOptions,
  name: string,
  fn: (task: TaskContext) => Promise<T>,
  data?: Record<string, unknown>,
): Promise<T> {
  const counter = { n: 0 }
  return runNode(options, counter, undefined, name, fn, data)
}

async function runNode<T>(
  options: TaskTreeOptions,
  counter: { n: number },
  parentId: string | undefined,
  name: string,
  fn: (task: TaskContext) => Promise<T>,
  data: Record<string, unknown> | undefined,
): Promise<T> {
  const now = options.now ?? Date.now
  const id = `${options.idPrefix ?? ''}${counter.n++}`
  options.emit({ type: 'start', id, parentId, name, data, time: now() })
  try {
    const result = await fn(makeContext(options, counter, id))
    options.emit({ type: 'end', id, status: 'success', time: now() })
    return result
  } catch (error) {
    options.emit({ type: 'end', id, status: statusOf(error), error: toTaskError(error), time: now() })
    throw error
  }
}

function makeContext(options: TaskTreeOptions, counter: { n: number }, id: string): TaskContext {
  const now = options.now ?? Date.now
  const interval = options.progressIntervalMs ?? 1000
  let lastProgress = -Infinity
  return {
    signal: options.signal,
    info: (message, data) => options.emit({ type: 'info', id, message, data, time: now() }),
    warn: (message, data) => options.emit({ type: 'warning', id, message, data, time: now() }),
    progress: ({ done, total }: TaskProgress) => {
      const t = now()
      if (t - lastProgress < interval && done !== total) return
      lastProgress = t
      options.emit({ type: 'progress', id, done, total, time: t })
    },
    set: (data) => options.emit({ type: 'set', id, data, time: now() }),
    child: (name, fn, data) => runNode(options, counter, id, name, fn, data),
  }
}

export function statusOf(error: unknown): TaskStatus {
  if (error instanceof TaskSkipped) return 'skipped'
  if (error instanceof TaskWarning) return 'warning'
  if (error instanceof AbortedError) return error.cause instanceof RunTimeoutError ? 'failure' : 'interrupted'
  return 'failure'
}

export function toTaskError(error: unknown): TaskError {
  if (error instanceof AbortedError && error.cause instanceof RunTimeoutError)
    return { code: error.cause.code, message: error.cause.message }
  return { code: errorCode(error), message: errorMessage(error) }
}
