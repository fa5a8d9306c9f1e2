// Login rate limits, in memory: attempts per client address (every attempt counts, so one address
// cannot try passwords fast) and failures per user name (so many addresses cannot guess one account's
// password fast; known and unknown names alike, so a limit tells no user names). A refused attempt
// gets 429 with Retry-After and costs no password hash. The number of addresses and names remembered
// is bounded: the oldest are forgotten first.
import { RetryLaterError } from '../errors.js'

export interface Window {
  readonly limit: number
  readonly windowMs: number
}

export interface LoginLimitOptions {
  readonly perAddress: Window
  readonly perUser: Window
  /** Addresses and names remembered at most (each). */
  readonly maxKeys: number
}

export const LOGIN_LIMIT_DEFAULTS: LoginLimitOptions = {
  perAddress: { limit: 20, windowMs: 60_000 },
  perUser: { limit: 10, windowMs: 15 * 60_000 },
  maxKeys: 10_000,
}

/** Times of the recent events of each key, within one sliding window. */
export class SlidingWindow {
  readonly #events = new Map<string, number[]>()

  constructor(
    readonly window: Window,
    readonly maxKeys: number,
  ) {}

  /** Milliseconds until `key` may act again (0: now). */
  waitMs(key: string, now: number): number {
    const recent = this.#recent(key, now)
    return recent.length < this.window.limit ? 0 : recent[0]! + this.window.windowMs - now
  }

  add(key: string, now: number): void {
    const recent = this.#recent(key, now)
    recent.push(now)
    if (recent.length > this.window.limit) recent.shift()
    this.#events.delete(key) // re-inserted last: the Map's order is the order of last use
    this.#events.set(key, recent)
    if (this.#events.size > this.maxKeys) this.#events.delete(this.#events.keys().next().value!)
  }

  clear(key: string): void {
    this.#events.delete(key)
  }

  #recent(key: string, now: number): number[] {
    const events = this.#events.get(key) ?? []
    while (events.length > 0 && events[0]! <= now - this.window.windowMs) events.shift()
    return events
  }
}

export class LoginLimits {
  readonly #addresses: SlidingWindow
  readonly #users: SlidingWindow

  constructor(readonly options: LoginLimitOptions = LOGIN_LIMIT_DEFAULTS) {
    this.#addresses = new SlidingWindow(options.perAddress, options.maxKeys)
    this.#users = new SlidingWindow(options.perUser, options.maxKeys)
  }

  /** Counts an attempt, or refuses it (429) when its address or user name is over its limit. */
  attempt(address: string, username: string, now = Date.now()): void {
    const byAddress = this.#addresses.waitMs(address, now)
    const byUser = this.#users.waitMs(userKey(username), now)
    if (byAddress > 0 || byUser > 0) {
      const seconds = Math.ceil(Math.max(byAddress, byUser) / 1000)
      const who = byAddress >= byUser ? 'from this address' : 'for this user'
      throw new RetryLaterError(
        429,
        'LOGIN_RATE_LIMITED',
        `too many login attempts ${who}; try again in ${seconds} s`,
        seconds,
      )
    }
    this.#addresses.add(address, now)
  }

  failed(username: string, now = Date.now()): void {
    this.#users.add(userKey(username), now)
  }

  succeeded(username: string): void {
    this.#users.clear(userKey(username))
  }
}

const userKey = (username: string): string => username.toLowerCase()
