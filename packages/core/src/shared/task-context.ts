// The narrow context through which long work reports: its signal, log lines, warnings, progress and
// child tasks. The engine implements it (a node of a run's task tree); libraries only consume it, so
// they never reach into the UI, the database or globals.

import { allowManyListeners } from './abort.js'

/** 'warning': the work was done but a check of it failed (a health check): orange, not green. */
export type TaskStatus = 'pending' | 'success' | 'failure' | 'interrupted' | 'skipped' | 'warning'

export interface TaskProgress {
  /** Bytes (or units) done and expected; `total` undefined while unknown. */
  done: number
  total?: number
}

export interface TaskContext {
  readonly signal: AbortSignal
  info(message: string, data?: Record<string, unknown>): void
  /** A warning shows on the task (orange in the UI) without failing it: every fallback is one. */
  warn(message: string, data?: Record<string, unknown>): void
  progress(progress: TaskProgress): void
  /** Facts kept on the task: sizes, ids, speeds. Merged with earlier ones. */
  set(data: Record<string, unknown>): void
  /** Runs `fn` as a child task; its status is success, failure (rethrown) or interrupted on abort. */
  child<T>(name: string, fn: (task: TaskContext) => Promise<T>, data?: Record<string, unknown>): Promise<T>
}

/** A context that records nothing: for library callers that do not track tasks. */
export function silentTask(
  signal: AbortSignal = allowManyListeners(new AbortController().signal),
): TaskContext {
  const task: TaskContext = {
    signal,
    info: () => {},
    warn: () => {},
    progress: () => {},
    set: () => {},
    child: (_name, fn) => fn(task),
  }
  return task
}
