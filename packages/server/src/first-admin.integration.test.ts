// The first admin's generated password is handed to the caller (the CLI shows it once on the
// terminal) and never written to the server's log, whose lines may go to a file or to syslog.
import { createSocket } from 'node:dgram'
import { mkdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { openDatabase } from './db/database.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

describe('the first admin password', () => {
  let scratch: Scratch
  beforeAll(async () => {
    scratch = await scratchDir('strata-server-first-admin-')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  it('is returned once and reaches neither the log nor syslog', async () => {
    const syslog = createSocket('udp4')
    const datagrams: string[] = []
    syslog.on('message', (m) => datagrams.push(m.toString()))
    await new Promise<void>((resolve) => syslog.bind(0, '127.0.0.1', resolve))
    // A data directory provisioned with syslog forwarding before the first start.
    const dataDir = scratch.path('data')
    await mkdir(dataDir, { recursive: true })
    const db = await openDatabase(dataDir)
    await db.run("INSERT INTO settings (key, value) VALUES ('syslog', ?)", [
      `udp://127.0.0.1:${syslog.address().port}`,
    ])
    await db.close()

    const lines: string[] = []
    const server = await startTestServer(scratch, { echo: (line) => lines.push(line) })
    try {
      const password = server.generatedAdminPassword!
      expect(password).toMatch(/^\S{16}$/)
      expect((await new ApiClient(server.url).login('admin', password)).status).toBe(200)
      expect(lines.join('\n')).not.toContain(password)
      expect(datagrams.join('\n')).not.toContain(password)
      for (let i = 0; i < 50 && !datagrams.some((d) => d.includes("created user 'admin'")); i++)
        await sleep(20)
      expect(lines.some((l) => l.includes("created user 'admin' with a generated password"))).toBe(true)
      expect(datagrams.some((d) => d.includes("created user 'admin'"))).toBe(true)
      expect(datagrams.join('\n')).not.toContain(password)
    } finally {
      await server.close()
      syslog.close()
    }
    const again = await startTestServer(scratch)
    expect(again.generatedAdminPassword).toBeUndefined()
    await again.close()
  })
})
