// Method dispatch shared by the RPC codecs: `(method, params) → result | XapiFailure`. Accepts the
// wire names `Class.method`, `Class_method` and `Async.Class.method`; checks arity and the session
// like xapi (both synchronously, before any task exists); runs Async calls as tasks.
import { XapiFailure } from '../db/failure.js'

/** What a handler running as an Async task sees of its task (tasks.ts implements it). */
export interface TaskControl {
  readonly ref: string
  setProgress(progress: number): void
  /** Throws TASK_CANCELLED when task.cancel was called: call it where the operation may stop. */
  checkCancelled(): void
}

export interface CallContext {
  /** The session ref of the caller ('' for session-less methods). */
  session: string
  /** The host whose listener received the call. */
  host: string
  /** Set when the call runs as an Async task. */
  task: TaskControl | undefined
  signal: AbortSignal
}

export type Handler = (ctx: CallContext, args: unknown[]) => unknown

export interface MethodSpec {
  /** Parameters after the session, including optional ones. */
  params: number
  /** How many trailing params have defaults and may be omitted. */
  optional?: number
  /** Methods callable without a session (login, system.*). */
  noSession?: boolean
  handler: Handler
}

export interface DispatchHooks {
  /** Validates a session ref; throws SESSION_INVALID (or HOST_IS_SLAVE) itself. */
  checkSession(session: unknown, host: string): string
  /** Runs an Async call as a task; returns the task ref. */
  runAsync(name: string, ctx: CallContext, run: (ctx: CallContext) => unknown): string
  /** Called before every dispatch (faults, slow hosts); may throw. */
  before?(method: string, host: string): Promise<void> | void
}

export class Dispatcher {
  readonly methods = new Map<string, MethodSpec>()
  /** Handles names not registered explicitly (generic get_/set_ methods); undefined if none applies. */
  fallback: ((name: string) => MethodSpec | undefined) | undefined

  constructor(readonly hooks: DispatchHooks) {}

  register(name: string, spec: MethodSpec): void {
    this.methods.set(name, spec)
  }

  resolve(name: string): MethodSpec | undefined {
    return this.methods.get(name) ?? this.fallback?.(name)
  }

  async dispatch(wireName: string, params: unknown[], host: string, signal: AbortSignal): Promise<unknown> {
    await this.hooks.before?.(wireName, host)
    const isAsync = wireName.startsWith('Async.')
    const base = isAsync ? wireName.slice('Async.'.length) : wireName
    const name = candidates(base, isAsync).find((c) => this.resolve(c) !== undefined)
    const spec = name === undefined ? undefined : this.resolve(name)
    if (spec === undefined || name === undefined || (isAsync && spec.noSession === true)) {
      throw new XapiFailure('MESSAGE_METHOD_UNKNOWN', [wireName])
    }
    const args = spec.noSession === true ? params : params.slice(1)
    const min = spec.params - (spec.optional ?? 0)
    if (args.length < min || args.length > spec.params || (spec.noSession !== true && params.length === 0)) {
      throw new XapiFailure('MESSAGE_PARAMETER_COUNT_MISMATCH', [name, String(min), String(args.length)])
    }
    const session = spec.noSession === true ? '' : this.hooks.checkSession(params[0], host)
    const ctx: CallContext = { session, host, task: undefined, signal }
    if (isAsync) return this.hooks.runAsync(`Async.${name}`, ctx, (taskCtx) => spec.handler(taskCtx, args))
    return spec.handler(ctx, args)
  }
}

/** `VM_snapshot` → `VM.snapshot` (any underscore may split class and method: `VM_metrics_get_all`). */
function candidates(name: string, isAsync: boolean): string[] {
  if (name.includes('.')) return [name]
  if (isAsync) return [] // xapi accepts Async only with the dotted form
  const out: string[] = []
  for (let i = name.indexOf('_'); i > 0; i = name.indexOf('_', i + 1))
    out.push(`${name.slice(0, i)}.${name.slice(i + 1)}`)
  return out
}
