// Sessions: login (HOST_IS_SLAVE on a pool member, SESSION_AUTHENTICATION_FAILED after a delay on bad
// credentials), logout, validation. Sessions live only in memory: a toolstack restart drops them all.
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Database } from '../db/database.js'
import { XapiFailure } from '../db/failure.js'
import type { Dispatcher } from './dispatcher.js'

export interface SessionOptions {
  user: string
  password: string
  /** xapi sleeps 5 s before refusing bad credentials; tests set it lower. */
  authFailureDelayMs: number
}

export class Sessions {
  readonly #live = new Map<string, { uuid: string; user: string; originator: string }>()

  constructor(
    readonly db: Database,
    readonly options: SessionOptions,
  ) {}

  get count(): number {
    return this.#live.size
  }

  masterAddress(): string {
    const [[, pool] = []] = this.db.find('pool', () => true)
    const master = String(pool?.master ?? '')
    return String(this.db.get('host', master).address)
  }

  isMaster(host: string): boolean {
    const [[, pool] = []] = this.db.find('pool', () => true)
    return pool?.master === host
  }

  check(session: unknown, host: string): string {
    const ref = String(session)
    if (!this.#live.has(ref)) throw new XapiFailure('SESSION_INVALID', [ref])
    if (!this.isMaster(host)) throw new XapiFailure('HOST_IS_SLAVE', [this.masterAddress()])
    return ref
  }

  isValid(ref: string): boolean {
    return this.#live.has(ref)
  }

  /** Expires every session (toolstack restart, or the "session expiry" fault). */
  expireAll(): void {
    this.#live.clear()
  }

  register(d: Dispatcher, hostOf: (ctxHost: string) => string): void {
    d.register('session.login_with_password', {
      params: 4,
      optional: 2,
      noSession: true,
      handler: async (ctx, [user, password, , originator]) => {
        if (!this.isMaster(hostOf(ctx.host))) throw new XapiFailure('HOST_IS_SLAVE', [this.masterAddress()])
        if (user !== this.options.user || password !== this.options.password) {
          await delay(this.options.authFailureDelayMs)
          throw new XapiFailure('SESSION_AUTHENTICATION_FAILED', [String(user), 'Authentication failure'])
        }
        const ref = `OpaqueRef:${randomUUID()}`
        this.#live.set(ref, { uuid: randomUUID(), user: String(user), originator: String(originator ?? '') })
        return ref
      },
    })
    d.register('session.logout', {
      params: 0,
      handler: (ctx) => {
        this.#live.delete(ctx.session)
        return ''
      },
    })
    d.register('session.get_uuid', {
      params: 1,
      handler: (_ctx, [ref]) => {
        const s = this.#live.get(String(ref))
        if (s === undefined) throw new XapiFailure('HANDLE_INVALID', ['session', String(ref)])
        return s.uuid
      },
    })
  }
}
