// The client against the lab's fault modes: an import whose target stops taking the body (the lab's
// `stall`, and a connection that stops being read, so that the socket no longer drains and the task
// stays pending, as on a hung host) ends on the inactivity timeout or the caller's signal; a pool that
// accepts connections and never answers (`hang`) fails a call within the caller's time, naming the
// host and the phase, and the pinned agent honours a request's own timeout and signal before the
// handshake too.
import { randomBytes } from 'node:crypto'
import { request } from 'node:https'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import { PoolTrust, XapiClient, createVdi, upload, type UploadBody } from '@strata/core/xapi'
import { LabPool } from './lab-pool.js'

const MiB = 1024 * 1024

/**
 * A TCP relay to `target` that stops reading a connection once it has carried `afterBytes` from the
 * client: the client's socket stops draining, and the target sees neither more bytes nor the client
 * going away (its task stays pending).
 */
async function stallingRelay(target: URL, afterBytes: number): Promise<Server & { sockets: Set<Socket> }> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
    }
    let carried = 0
    client.on('data', (chunk: Buffer) => {
      carried += chunk.length
      if (carried > afterBytes) client.pause()
      else upstream.write(chunk)
    })
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(server, { sockets })
}

/** Elapsed time and outcome (the error, or 'resolved') of `promise`. */
async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = Date.now()
  const error = await promise.then(
    () => 'resolved',
    (e: unknown) => e,
  )
  return { ms: Date.now() - start, error }
}

describe('the client against a stalled import and a hung pool', () => {
  let lab: LabPool
  let xapi: XapiClient
  let sr: string
  const data = randomBytes(48 * MiB)
  const bodies: Record<string, () => UploadBody> = {
    readable: () => ({ open: () => Readable.from([data]), length: data.length }),
    'lent items': () => ({
      open: async function* () {
        for (let at = 0; at < data.length; at += MiB) yield data.subarray(at, at + MiB)
      },
      length: data.length,
    }),
  }
  const importInto = (
    client: XapiClient,
    vdi: string,
    body: UploadBody,
    options: { inactivityTimeoutMs?: number; signal?: AbortSignal },
  ) =>
    upload(client, {
      method: 'PUT',
      path: '/import_raw_vdi',
      query: { vdi, format: 'raw' },
      label: `import into VDI ${vdi}`,
      body,
      ...options,
    })
  const newVdi = (name: string): Promise<string> =>
    createVdi(xapi, { name_label: name, virtual_size: data.length }, sr)
  /** Pending tasks of the imports into `vdi`. */
  const pendingTasks = (vdi: string) =>
    lab.state.db.find('task', (r) => r.status === 'pending' && String(r.name_label).includes(vdi))

  beforeAll(async () => {
    requireBinary('openssl')
    lab = await LabPool.start({ authFailureDelayMs: 10, dom0DetachMs: 50, vms: [] })
    xapi = new XapiClient(lab.connection)
    ;[sr] = (await xapi.call<string[]>('SR.get_all', [])) as [string]
  })
  afterEach(async () => {
    await lab.faults.setUnreachable(undefined)
    lab.faults.clear()
  })
  afterAll(async () => {
    await xapi?.close()
    await lab?.close()
  })

  for (const [kind, body] of Object.entries(bodies)) {
    it(`gives up on an import the lab stalls, after the inactivity timeout (${kind} body)`, async () => {
      const vdi = await newVdi(`stall ${kind}`)
      lab.faults.failHttp('/import_raw_vdi', { kind: 'stall', afterBytes: MiB })
      const { ms, error } = await timed(importInto(xapi, vdi, body(), { inactivityTimeoutMs: 500 }))
      expect(error).toMatchObject({ code: 'XAPI_TRANSFER_STALLED', retryable: true })
      expect((error as Error).message).toContain(`import into VDI ${vdi}`)
      expect(ms).toBeLessThan(3000)
      expect(pendingTasks(vdi)).toEqual([])
    })

    it(`gives up on an import whose socket stops draining, the task pending (${kind} body)`, async () => {
      const vdi = await newVdi(`not drained ${kind}`)
      const relay = await stallingRelay(new URL(lab.url), 2 * MiB)
      const port = (relay.address() as { port: number }).port
      const client = new XapiClient({ ...lab.connection, url: `https://127.0.0.1:${port}` })
      try {
        const byTimeout = await timed(importInto(client, vdi, body(), { inactivityTimeoutMs: 500 }))
        expect(byTimeout.error).toMatchObject({ code: 'XAPI_TRANSFER_STALLED', retryable: true })
        expect(byTimeout.ms).toBeLessThan(3000)
        // No inactivity timeout to speak of: the caller's signal ends it at once.
        const signal = AbortSignal.timeout(700)
        const bySignal = await timed(importInto(client, vdi, body(), { signal }))
        expect(bySignal.error).toMatchObject({ code: 'ABORTED' })
        expect(bySignal.ms).toBeLessThan(1500)
        // Both tasks were cancelled and destroyed, although the target never said a word about them.
        expect(pendingTasks(vdi)).toEqual([])
      } finally {
        await client.close()
        for (const s of relay.sockets) s.destroy()
        relay.close()
      }
    })

    it(`stops an import the lab stalls as soon as the signal fires (${kind} body)`, async () => {
      const vdi = await newVdi(`abort ${kind}`)
      lab.faults.failHttp('/import_raw_vdi', { kind: 'stall', afterBytes: MiB })
      const { ms, error } = await timed(importInto(xapi, vdi, body(), { signal: AbortSignal.timeout(700) }))
      expect(error).toMatchObject({ code: 'ABORTED' })
      expect(ms).toBeLessThan(1500)
      expect(pendingTasks(vdi)).toEqual([])
    })
  }

  it('fails a call to a hung pool within the signal, then works again once the pool answers', async () => {
    await xapi.call('VM.get_all', [])
    await lab.faults.setUnreachable('hang')
    const { ms, error } = await timed(xapi.call('VM.get_all', [], AbortSignal.timeout(800)))
    expect(error).toMatchObject({ code: 'ABORTED' })
    expect(ms).toBeLessThan(2000)
    await lab.faults.setUnreachable(undefined)
    expect(await xapi.call<string[]>('VM.get_all', [])).not.toEqual([])
  })

  it('fails a login to a hung pool after the connect timeout, naming the host and the phase', async () => {
    await lab.faults.setUnreachable('hang')
    const client = new XapiClient({ ...lab.connection, connectTimeoutMs: 800 })
    const host = new URL(lab.url).host
    const logins = lab.calls.get('session.login_with_password') ?? 0
    try {
      const { ms, error } = await timed(client.connect())
      expect(error).toMatchObject({
        code: 'XAPI_CONNECT_TIMEOUT',
        retryable: true,
        details: { host, phase: 'tls-handshake', timeoutMs: 800 },
      })
      expect((error as Error).message).toContain(host)
      expect((error as Error).message).toContain('TLS handshake')
      expect(ms).toBeLessThan(2000)
      expect(lab.calls.get('session.login_with_password') ?? 0).toBe(logins) // nothing reached the pool
    } finally {
      await client.close()
    }
  })

  it("honours a plain request's timeout and signal before the handshake (pinned agent)", async () => {
    await lab.faults.setUnreachable('hang')
    const trust = new PoolTrust(new URL(lab.url), { fingerprint: lab.fingerprint })
    const host = new URL(lab.url).host
    const attempt = (options: { timeout?: number; signal?: AbortSignal }) =>
      timed(
        new Promise((resolve, reject) => {
          const req = request(new URL('/jsonrpc', lab.url), { agent: trust.agent(false), ...options })
          req.on('response', resolve)
          req.on('error', reject)
          req.end()
        }),
      )
    const byTimeout = await attempt({ timeout: 800 })
    expect(byTimeout.error).toMatchObject({
      code: 'XAPI_CONNECT_TIMEOUT',
      details: { host, phase: 'tls-handshake', timeoutMs: 800 },
    })
    expect(byTimeout.ms).toBeLessThan(2000)
    const bySignal = await attempt({ signal: AbortSignal.timeout(800) })
    expect(bySignal.error).toMatchObject({ code: 'ABORTED' })
    expect(bySignal.ms).toBeLessThan(2000)
  })
})
