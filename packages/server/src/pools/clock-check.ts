// TOTP codes depend on the server's clock, so the server compares it with its pools' clocks (the HTTP
// Date header of the XAPI host, a second's precision) and warns when they differ by more than the
// half-step a TOTP check tolerates.
export interface ClockState {
  readonly offsetMs: number
  readonly checked: number
  readonly source: string
  readonly warning?: string
}

export const CLOCK_TOLERANCE_MS = 15_000

export async function checkClock(
  url: string,
  signal: AbortSignal,
  now = Date.now,
): Promise<ClockState | undefined> {
  const before = now()
  const response = await fetch(url, { method: 'HEAD', signal }).catch(() => undefined)
  const after = now()
  const date = response?.headers.get('date')
  if (date === null || date === undefined || Number.isNaN(Date.parse(date))) return undefined
  // The header is truncated to the second: compare with the middle of the request, give half a second.
  const offsetMs = Date.parse(date) + 500 - (before + after) / 2
  const state = { offsetMs: Math.round(offsetMs), checked: after, source: url }
  return Math.abs(offsetMs) <= CLOCK_TOLERANCE_MS
    ? state
    : {
        ...state,
        warning: `the server clock differs from pool ${url} by ${Math.round(offsetMs / 1000)} s: TOTP codes may be refused; sync the clock (NTP)`,
      }
}
