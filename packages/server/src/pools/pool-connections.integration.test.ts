// A pool whose login fails, against the lab: the state says why and when the next attempt is, attempts
// back off exponentially up to a cap (not a retry a second forever), and the log gets one line for the
// failure, not one per attempt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { LabPool } from '@strata/lab'
import { ServerLog } from '../server-log.js'
import { PoolConnections, RECONNECT_DEFAULTS } from './pool-connections.js'

describe('a pool whose login fails', () => {
  let lab: LabPool
  let logins: number[]

  beforeAll(async () => {
    lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: [] })
    logins = []
    const faults = lab.faults
    const before = faults.beforeCall.bind(faults)
    faults.beforeCall = (method, host) => {
      if (method === 'session.login_with_password') logins.push(Date.now())
      return before(method, host)
    }
  })
  afterAll(async () => {
    await lab?.close()
  })

  it('backs off from 5 s to 5 min by default', () => {
    expect(RECONNECT_DEFAULTS).toEqual({ firstMs: 5000, maxMs: 300_000 })
  })

  it('shows why, retries with a growing delay up to the cap, and logs the failure once', async () => {
    const lines: string[] = []
    const log = new ServerLog((line) => lines.push(line))
    const connections = new PoolConnections(log, { firstMs: 100, maxMs: 800 })
    const pool = {
      id: 'p1',
      name: 'lab',
      url: lab.url,
      username: 'root',
      fingerprint: lab.fingerprint,
      insecureHttp: false,
    }
    const started = Date.now()
    try {
      await connections.connect(pool, 'wrong password')
      await connections.settle(pool.id, 5000)
      const state = connections.state(pool.id)
      expect(state).toMatchObject({ connected: false, errorCode: 'SESSION_AUTHENTICATION_FAILED' })
      expect(state.error).toContain('Authentication failure')
      expect(state.nextAttempt).toBeGreaterThan(Date.now() - 50)
      await sleep(6000)
    } finally {
      await connections.closeAll()
    }
    // 100, 200, 400, then 800 ms at most between attempts: about 10 in 6 s (a fixed 1 s would be 6, no
    // back-off at all hundreds).
    const gaps = logins.slice(1).map((t, i) => t - logins[i]!)
    expect(logins.length).toBeGreaterThanOrEqual(6)
    expect(logins.length).toBeLessThanOrEqual(14)
    expect(gaps[0]).toBeGreaterThanOrEqual(90)
    expect(gaps[2]).toBeGreaterThan(gaps[0]! * 2)
    expect(Math.max(...gaps)).toBeLessThan(800 + 500)
    expect(logins[0]! - started).toBeLessThan(1000)
    const about = lines.filter((l) => l.includes("pool 'lab'"))
    expect(about).toHaveLength(1)
    expect(about[0]).toMatch(/not connected: .*Authentication failure.*retrying/)
  }, 30_000)
})
