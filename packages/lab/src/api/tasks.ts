// The task engine: Async calls and HTTP transfers run in `task` rows that move pending → success |
// failure | cancelled, with progress, an XML-RPC-encoded result (even over JSON-RPC) and error_info.
// task.cancel is honoured at the operation's checkpoints.
import { encodeXmlRpcValue, type XmlRpcValue } from '@strata/core/xapi'
import type { Database } from '../db/database.js'
import { XapiFailure, toFailure } from '../db/failure.js'
import { NULL, taskDefaults, xapiDate } from '../db/schema.js'
import type { CallContext, Dispatcher, TaskControl } from './dispatcher.js'

export type { TaskControl }

/** Completed tasks kept before the oldest are garbage-collected (xapi keeps ~200). */
const MAX_DONE_TASKS = 200

export class TaskEngine {
  constructor(
    readonly db: Database,
    readonly host: () => string,
  ) {}

  create(label: string, description = '', cancellable = false): string {
    this.#gc()
    return this.db.create('task', {
      ...taskDefaults(),
      name_label: label,
      name_description: description,
      resident_on: this.host(),
      allowed_operations: cancellable ? ['cancel'] : [],
    })
  }

  control(ref: string): TaskControl {
    return {
      ref,
      setProgress: (progress) => {
        if (this.db.has('task', ref) && this.db.get('task', ref).status === 'pending') {
          this.db.update('task', ref, { progress: Math.min(0.99, Math.max(0, progress)) })
        }
      },
      checkCancelled: () => {
        const row = this.db.has('task', ref) ? this.db.get('task', ref) : undefined
        if (row !== undefined && 'cancel' in (row.current_operations as object)) {
          throw new XapiFailure('TASK_CANCELLED', [ref])
        }
      },
    }
  }

  succeed(ref: string, result: XmlRpcValue | undefined): void {
    if (!this.#pending(ref)) return
    const encoded = result === undefined || result === '' ? '' : encodeXmlRpcValue(result)
    this.#finish(ref, { status: 'success', result: encoded, error_info: [] })
  }

  fail(ref: string, error: unknown): void {
    if (!this.#pending(ref)) return
    const f = toFailure(error)
    const status = f.code === 'TASK_CANCELLED' ? 'cancelled' : 'failure'
    this.#finish(ref, { status, error_info: [f.code, ...f.params] })
  }

  /** Runs `run` as the task's body: its value becomes the result, its failure the error_info. */
  run(name: string, ctx: CallContext, run: (ctx: CallContext) => unknown, cancellable = true): string {
    const ref = this.create(name, '', cancellable)
    const task = this.control(ref)
    void (async () => {
      try {
        const value = await run({ ...ctx, task })
        this.succeed(ref, value as XmlRpcValue)
      } catch (error) {
        this.fail(ref, error)
      }
    })()
    return ref
  }

  register(dispatcher: Dispatcher): void {
    const d = dispatcher
    d.register('task.create', {
      params: 2,
      handler: (_c, [label, desc]) => this.create(String(label), String(desc)),
    })
    d.register('task.cancel', {
      params: 1,
      handler: (_c, [ref]) => {
        const row = this.db.get('task', String(ref))
        if (row.status !== 'pending') return ''
        this.db.update('task', String(ref), {
          current_operations: { ...(row.current_operations as object), cancel: 'cancel' },
        })
        // Client-created tasks have no operation to notice the cancel: end them now.
        if (row.type === '<none/>' && !(row.allowed_operations as string[]).includes('cancel')) {
          this.fail(String(ref), new XapiFailure('TASK_CANCELLED', [String(ref)]))
        }
        return ''
      },
    })
    d.register('task.destroy', {
      params: 1,
      handler: (_c, [ref]) => {
        const row = this.db.get('task', String(ref))
        if (row.status === 'pending') {
          this.db.update('task', String(ref), {
            current_operations: { ...(row.current_operations as object), destroy: 'destroy' },
          })
        } else this.db.delete('task', String(ref))
        return ''
      },
    })
    d.register('task.set_status', {
      params: 2,
      handler: (_c, [ref, status]) => {
        this.db.update('task', String(ref), {
          status,
          finished: status === 'pending' ? this.db.get('task', String(ref)).finished : xapiDate(),
        })
        return ''
      },
    })
    d.register('task.set_progress', {
      params: 2,
      handler: (_c, [ref, p]) => (this.db.update('task', String(ref), { progress: Number(p) }), ''),
    })
    d.register('task.set_result', {
      params: 2,
      handler: (_c, [ref, r]) => (this.db.update('task', String(ref), { result: String(r) }), ''),
    })
    d.register('task.set_error_info', {
      params: 2,
      handler: (_c, [ref, e]) => (this.db.update('task', String(ref), { error_info: e as string[] }), ''),
    })
  }

  #pending(ref: string): boolean {
    return (
      this.db.has('task', ref) && ['pending', 'cancelling'].includes(String(this.db.get('task', ref).status))
    )
  }

  #finish(ref: string, patch: Record<string, unknown>): void {
    const row = this.db.get('task', ref)
    const destroyAfter = 'destroy' in (row.current_operations as object)
    this.db.update('task', ref, {
      progress: 1.0,
      finished: xapiDate(),
      allowed_operations: [],
      current_operations: {},
      ...patch,
    })
    if (destroyAfter) this.db.delete('task', ref)
  }

  #gc(): void {
    const done = this.db.find('task', (row) => row.status !== 'pending')
    for (const [ref] of done.slice(0, Math.max(0, done.length - MAX_DONE_TASKS))) this.db.delete('task', ref)
  }
}

export { NULL }
