// How long a pooled RPC connection may wait for its next request. A server closes a keep-alive connection
// that stayed idle too long (the lab after 5 s, Node's default); a request written at that moment, on a
// connection whose close is on its way or not yet seen, fails with ECONNRESET or "socket hang up".
// Node's agents keep idle connections for ever (a server's `Keep-Alive: timeout=N` is only heeded when the
// agent has a `timeout` of its own, which would also become our connect timeout): so the client retires
// them first, 1 s before the server said it would, and never later than IDLE_LIMIT_MS (xapi announces no
// timeout). What remains of the race is the resend of json-rpc-transport.ts.
import { Agent as HttpAgent } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/** The longest a pooled connection stays open without a request. */
export const IDLE_LIMIT_MS = 4000

/** How long before the server's announced timeout the client lets go. */
const MARGIN_MS = 1000

/** The idle limit after a response that said `Keep-Alive: <hint>`; 0: the connection is not kept. */
export function idleLimitMs(hint: string | undefined, limitMs = IDLE_LIMIT_MS): number {
  const seconds = /(?:^|,)\s*timeout=(\d+)/.exec(hint ?? '')?.[1]
  if (seconds === undefined) return limitMs
  return Math.max(0, Math.min(limitMs, Number(seconds) * 1000 - MARGIN_MS))
}

/**
 * An agent's keepSocketAlive, after Node's own (TCP keep-alive, unref): the idle socket times out after
 * the limit, and Node's agent destroys a free socket that times out. False: not kept at all.
 */
export function retireWhenIdle(socket: Duplex, limitMs = IDLE_LIMIT_MS): boolean {
  // The response the socket just carried: where Node's own agent reads the hint too.
  const res = (socket as { _httpMessage?: { res?: { headers: Record<string, unknown> } } })._httpMessage?.res
  const hint = res?.headers['keep-alive']
  const idle = idleLimitMs(typeof hint === 'string' ? hint : undefined, limitMs)
  if (idle === 0) return false
  ;(socket as Socket).setTimeout(idle)
  return true
}

/** The plain-HTTP agent of insecure pools (tests, labs), with the same idle limit as PinnedAgent. */
export class IdleLimitedAgent extends HttpAgent {
  constructor(readonly idleLimitMs = IDLE_LIMIT_MS) {
    super({ keepAlive: true })
  }

  override keepSocketAlive(socket: Duplex): boolean {
    super.keepSocketAlive(socket)
    return retireWhenIdle(socket, this.idleLimitMs)
  }
}
