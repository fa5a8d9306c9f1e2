// Faults on demand: one-shot or sticky failures of named methods, HTTP transfer misbehaviour, slow
// hosts. The lab consults this object at the places where a real pool would misbehave.
import { setTimeout as delay } from 'node:timers/promises'
import { XapiFailure } from './db/failure.js'

export type HttpFault =
  /**
   * Answer 302 to the other host (as when the SR is only visible there), or to the address `to` (a host
   * outside the pool: clients must refuse to follow, since the URL carries the session id).
   */
  | { kind: 'redirect'; to?: string }
  /**
   * Send the 200, stream `afterBytes`, then close, and fail the task with VDI_IO_ERROR. On uploads
   * (/import_raw_vdi, /import): the connection drops after `afterBytes` of the body were received.
   */
  | { kind: 'cut'; afterBytes: number }
  /** Send the 200, write bogus "HTTP/1.1 500" text into the body, fail the task (xen-api #4603). */
  | { kind: 'garbage' }
  /**
   * Send the 200 and `afterBytes` bytes, then nothing more, keeping the connection open. On uploads:
   * stop reading the body after `afterBytes`, keeping the connection open.
   */
  | { kind: 'stall'; afterBytes: number }
  /** Complete the stream (or read the whole upload) but fail the task afterwards. */
  | { kind: 'task-failure'; code: string; params?: string[] }

/**
 * A pool that cannot be reached: `refuse` closes its listeners (HTTPS and NBD: connection refused);
 * `hang` accepts connections on the same ports and never answers (not even the TLS handshake).
 * Connections open at the switch are reset.
 */
export type Unreachable = 'refuse' | 'hang'

/** The longest a lab-only unreachability lasts (its end is a timer: no call can reach the pool). */
export const MAX_UNREACHABLE_MS = 10 * 60 * 1000

interface MethodFault {
  method: string
  failure: XapiFailure
  times: number
}

export class Faults {
  #methods: MethodFault[] = []
  #before: { method: string; action: () => Promise<void> | void }[] = []
  #http: { path: string; fault: HttpFault; times: number }[] = []
  /** Extra latency per RPC call, per host ref (a slow host). */
  readonly slowHosts = new Map<string, number>()
  /** Drop NBD connections after this many bytes were served (once per connection). */
  nbdDropAfterBytes: number | undefined
  /**
   * Answer `/import_raw_vdi?chunked` with 404 "Cannot handle chunked" whatever the format, as a pool
   * without the chunked protocol would (sticky, until clear()).
   */
  refuseChunkedImport = false
  /** Applies an unreachability to the hosts' listeners (set by the lab pool). */
  onUnreachable: (mode: Unreachable | undefined) => Promise<void> = async () => {}
  #unreachable: Unreachable | undefined
  #reachAgain: NodeJS.Timeout | undefined

  get unreachable(): Unreachable | undefined {
    return this.#unreachable
  }

  /**
   * Makes the pool unreachable (`mode`) or reachable again (undefined); with `forMs`, reachable again
   * after that long (at most MAX_UNREACHABLE_MS).
   */
  async setUnreachable(mode: Unreachable | undefined, forMs?: number): Promise<void> {
    clearTimeout(this.#reachAgain)
    this.#reachAgain = undefined
    if (mode !== undefined && forMs !== undefined) {
      if (!(forMs > 0 && forMs <= MAX_UNREACHABLE_MS))
        throw new XapiFailure('INVALID_VALUE', ['duration', String(forMs)])
      this.#reachAgain = setTimeout(() => void this.setUnreachable(undefined).catch(() => {}), forMs)
      this.#reachAgain.unref()
    }
    if (mode === this.#unreachable) return
    this.#unreachable = mode
    await this.onUnreachable(mode)
  }

  /** Makes the next `times` calls of `method` fail with `code` (e.g. TOO_MANY_PENDING_TASKS). */
  failMethod(method: string, code: string, params: string[] = [], times = 1): void {
    this.#methods.push({ method, failure: new XapiFailure(code, params), times })
  }

  /** Makes the next `times` requests to `path` (e.g. '/export_raw_vdi') misbehave. */
  failHttp(path: string, fault: HttpFault, times = 1): void {
    this.#http.push({ path, fault, times })
  }

  /**
   * Runs `action` once, just before the next call of `method` is handled: a race made to happen between
   * a client's two calls (e.g. a dom0 VBD unplugged and destroyed after the VDI's VBDs were listed and
   * before the first of them is read).
   */
  beforeNext(method: string, action: () => Promise<void> | void): void {
    this.#before.push({ method, action })
  }

  async beforeCall(method: string, host: string): Promise<void> {
    const slow = this.slowHosts.get(host)
    if (slow !== undefined) await delay(slow)
    const name = method.replace(/^Async\./, '')
    const before = this.#before.findIndex((b) => b.method === name)
    if (before !== -1) await this.#before.splice(before, 1)[0]!.action()
    const i = this.#methods.findIndex((f) => f.method === name)
    if (i === -1) return
    const f = this.#methods[i]!
    if (--f.times <= 0) this.#methods.splice(i, 1)
    throw f.failure
  }

  /** The next fault for `path`; `redirectOnly` takes only a pending redirect (checked before routing). */
  takeHttp(path: string, redirectOnly = false): HttpFault | undefined {
    const i = this.#http.findIndex((f) => f.path === path && (f.fault.kind === 'redirect') === redirectOnly)
    if (i === -1) return undefined
    const f = this.#http[i]!
    if (--f.times <= 0) this.#http.splice(i, 1)
    return f.fault
  }

  clear(): void {
    this.#methods = []
    this.#before = []
    this.#http = []
    this.slowHosts.clear()
    this.nbdDropAfterBytes = undefined
    this.refuseChunkedImport = false
  }
}
