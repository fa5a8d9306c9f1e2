// Rebuilds task trees from task events (live from a worker, or read back from a run log), with the
// derived facts people want: durations, speeds and an ETA from the progress events.
import type { TaskStatus } from '../shared/index.js'
import type { TaskError, TaskEvent } from './task-tree.js'

export interface TaskMessage {
  readonly message: string
  readonly data?: Record<string, unknown>
  readonly time: number
}

export interface TaskNode {
  readonly id: string
  readonly name: string
  readonly parentId?: string
  status: TaskStatus
  /** Facts: the start data merged with every `set`. */
  data: Record<string, unknown>
  readonly start: number
  end?: number
  durationMs?: number
  error?: TaskError
  readonly warnings: TaskMessage[]
  readonly infos: TaskMessage[]
  progress?: { done: number; total?: number; time: number }
  /** Bytes (units) per second over the task's life so far. */
  speed?: number
  etaMs?: number
  readonly children: TaskNode[]
}

export class TaskView {
  readonly roots: TaskNode[] = []
  readonly #byId = new Map<string, TaskNode>()

  get(id: string): TaskNode | undefined {
    return this.#byId.get(id)
  }

  apply(event: TaskEvent): void {
    if (event.type === 'start') return this.#start(event)
    const node = this.#byId.get(event.id)
    if (node === undefined) return // an event of a task whose start was lost: nothing to attach it to
    switch (event.type) {
      case 'end':
        node.status = event.status
        node.end = event.time
        node.durationMs = event.time - node.start
        if (event.error !== undefined) node.error = event.error
        node.etaMs = undefined
        if (node.progress !== undefined && node.durationMs > 0)
          node.speed = (node.progress.done * 1000) / node.durationMs
        return
      case 'info':
      case 'warning':
        ;(event.type === 'info' ? node.infos : node.warnings).push({
          message: event.message,
          data: event.data,
          time: event.time,
        })
        return
      case 'set':
        node.data = { ...node.data, ...event.data }
        return
      case 'progress':
        this.#progress(node, event.done, event.total, event.time)
    }
  }

  /** Ends every task still pending as interrupted (its process is gone). */
  interruptPending(time: number, reason: TaskError): void {
    for (const node of this.#byId.values()) {
      if (node.status !== 'pending') continue
      node.status = 'interrupted'
      node.end = time
      node.durationMs = time - node.start
      node.error = reason
      node.etaMs = undefined
    }
  }

  #start(event: Extract<TaskEvent, { type: 'start' }>): void {
    const node: TaskNode = {
      id: event.id,
      name: event.name,
      parentId: event.parentId,
      status: 'pending',
      data: { ...event.data },
      start: event.time,
      warnings: [],
      infos: [],
      children: [],
    }
    this.#byId.set(node.id, node)
    const parent = event.parentId === undefined ? undefined : this.#byId.get(event.parentId)
    ;(parent?.children ?? this.roots).push(node)
  }

  #progress(node: TaskNode, done: number, total: number | undefined, time: number): void {
    node.progress = { done, total, time }
    const elapsed = time - node.start
    if (elapsed <= 0 || done <= 0) return
    node.speed = (done * 1000) / elapsed
    node.etaMs = total === undefined ? undefined : (Math.max(0, total - done) * 1000) / node.speed
  }
}

/** Depth-first walk of a tree. */
export function* walkTasks(nodes: readonly TaskNode[]): Generator<TaskNode> {
  for (const node of nodes) {
    yield node
    yield* walkTasks(node.children)
  }
}
