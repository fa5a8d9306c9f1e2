// TOTP codes depend on the server's clock, so the server compares it with its pools' clocks (the master's
// host.get_servertime, read over the pool's pinned XAPI session, a second's precision) and warns when
// they differ by more than the half-step a TOTP check tolerates.
import type { XapiClient } from '@strata/core/xapi'

export interface ClockState {
  readonly offsetMs: number
  readonly checked: number
  readonly source: string
  readonly warning?: string
}

export const CLOCK_TOLERANCE_MS = 15_000

/** The time of `source` in ms since the epoch, truncated to the second; undefined when unknown. */
export type ReadClock = (signal: AbortSignal) => Promise<number | undefined>

export async function checkClock(
  source: string,
  readClock: ReadClock,
  signal: AbortSignal,
  now = Date.now,
): Promise<ClockState | undefined> {
  const before = now()
  const time = await readClock(signal).catch(() => undefined)
  const after = now()
  if (time === undefined || Number.isNaN(time)) return undefined
  // The time is truncated to the second: compare with the middle of the request, give half a second.
  const offsetMs = time + 500 - (before + after) / 2
  const state = { offsetMs: Math.round(offsetMs), checked: after, source }
  return Math.abs(offsetMs) <= CLOCK_TOLERANCE_MS
    ? state
    : {
        ...state,
        warning: `the server clock differs from pool ${source} by ${Math.round(offsetMs / 1000)} s: TOTP codes may be refused; sync the clock (NTP)`,
      }
}

/** XAPI's datetime, `20240501T10:11:12Z` (UTC), in ms since the epoch; undefined when malformed. */
export function parseXapiDateTime(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2}):(\d{2}):(\d{2})Z?$/.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[]
  const time = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!)
  return Number.isNaN(time) ? undefined : time
}

/** The pool master's clock, through the client's (pinned) session. */
export async function xapiServerTime(client: XapiClient, signal: AbortSignal): Promise<number | undefined> {
  const [pool] = await client.call<string[]>('pool.get_all', [], signal)
  if (pool === undefined) return undefined
  const master = await client.call<string>('pool.get_master', [pool], signal)
  return parseXapiDateTime(await client.call<string>('host.get_servertime', [master], signal))
}
