// XO remotes through the API against a real server, remotes built by the tests from the format
// description (clear, and encrypted) and a real local repository: added with their key sealed and never
// shown, browsed (each point usable or not with the reason), a disk downloaded byte-identical (raw, and
// VHD read back by qemu-img), imported into a repository as a run with progress, a report, a cancel and
// a resume; and the remotes' files byte- and mtime-identical after all of it.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { buildScenario, dirSink, VM, type Scenario } from '@strata/core/xo/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

const qemuImg = requireBinary('qemu-img')
const KEY = 'an XO key of exactly 32 chars!!!'

/** Every file under `root` with its size, mtime and SHA-256: equal before and after means untouched. */
async function treeState(root: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      const info = await stat(path)
      if (entry.isDirectory()) {
        out.push(`${path}/ ${info.mtimeMs}`)
        await walk(path)
      } else {
        const digest = createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
        out.push(`${path} ${info.size} ${info.mtimeMs} ${digest}`)
      }
    }
  }
  await walk(root)
  return out.sort()
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

describe('XO remotes through the API', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient
  let clear: Scenario
  let encrypted: Scenario
  let before: { clear: string[]; encrypted: string[] }
  let clearId: string
  let repositoryId: string
  const logLines: string[] = []

  const ended = (runId: string) =>
    until(`run ${runId}`, async () => {
      const { body } = await admin.get('/api/runs?limit=1000')
      return body.find((r: { runId: string; status: string }) => r.runId === runId && r.status !== 'pending')
    })

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-xo-')
    clear = await buildScenario(dirSink(scratch.path('xo-clear')))
    encrypted = await buildScenario(dirSink(scratch.path('xo-encrypted')), {
      encryption: 'aes-256-gcm',
      key: KEY,
    })
    before = {
      clear: await treeState(scratch.path('xo-clear')),
      encrypted: await treeState(scratch.path('xo-encrypted')),
    }
    await Repository.create(new LocalStore(scratch.path('repo')))
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      echo: (line) => void logLines.push(line),
    })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
    repositoryId = (await admin.post('/api/repositories', { name: 'local', location: scratch.path('repo') }))
      .body.id
  }, 180_000)
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  describe('adding and removing', () => {
    it('adds a remote (admin only) and lists it', async () => {
      const added = await admin.post('/api/xo-remotes', {
        name: 'xo-nfs',
        location: scratch.path('xo-clear'),
      })
      expect(added.status, JSON.stringify(added.body)).toBe(201)
      expect(added.body).toMatchObject({
        name: 'xo-nfs',
        location: scratch.path('xo-clear'),
        encrypted: false,
      })
      clearId = added.body.id
      expect((await admin.get('/api/xo-remotes')).body).toEqual([added.body])
      await admin.post('/api/users', { username: 'viewer', password: 'viewer-password', role: 'read-only' })
      const viewer = new ApiClient(server.url)
      await viewer.login('viewer', 'viewer-password')
      const refused = await viewer.post('/api/xo-remotes', { name: 'x', location: scratch.path('xo-clear') })
      expect(refused.status).toBe(403)
      expect((await viewer.get('/api/xo-remotes')).status).toBe(200)
      expect((await viewer.delete(`/api/xo-remotes/${clearId}`)).status).toBe(403)
    })

    it('seals the key: it is checked when added, never returned nor logged', async () => {
      const location = scratch.path('xo-encrypted')
      const none = await admin.post('/api/xo-remotes', { name: 'enc', location })
      expect(none.status).toBe(400)
      expect(none.body.error.code).toBe('XO_KEY_REQUIRED')
      expect(none.body.error.message).toMatch(/is encrypted \(aes-256-gcm\): give its key \('key'\)$/)
      const wrong = await admin.post('/api/xo-remotes', { name: 'enc', location, key: 'X'.repeat(32) })
      expect(wrong.status).toBe(400)
      expect(wrong.body.error).toMatchObject({ code: 'XO_KEY_WRONG' })
      expect(wrong.body.error.message).toMatch(/not this remote's key/)
      const added = await admin.post('/api/xo-remotes', { name: 'enc', location, key: KEY })
      expect(added.status).toBe(201)
      expect(added.body.encrypted).toBe(true)
      const listed = await admin.get('/api/xo-remotes')
      expect(JSON.stringify(listed.body)).not.toContain(KEY)
      expect(JSON.stringify(added.body)).not.toContain(KEY)
      const points = await admin.get(`/api/xo-remotes/${added.body.id}/points`)
      expect(points.status).toBe(200)
      expect(points.body.length).toBe(encrypted.points.size)
      // Its disks decrypted with the sealed key: byte-identical (VhdDirectories, brotli and gzip).
      const [id, point] = [...encrypted.points].filter(([, p]) => p.vm === VM.delta).at(-1)!
      for (const [n, disk] of point.disks.entries()) {
        const url = `${server.url}/api/xo-remotes/${added.body.id}/points/${id}/disks/${n}.raw`
        const response = await fetch(url, { headers: { cookie: admin.cookie! } })
        expect(Buffer.from(await response.arrayBuffer()).equals(disk), `disk ${n}`).toBe(true)
      }
      const db = await readFile(scratch.path('data', 'strata.db'))
      expect(db.includes(Buffer.from(KEY))).toBe(false)
      expect(logLines.join('\n')).not.toContain(KEY)
      expect((await admin.delete(`/api/xo-remotes/${added.body.id}`)).status).toBe(204)
      expect((await admin.get(`/api/xo-remotes/${added.body.id}/points`)).status).toBe(404)
    })

    it('refuses a location that is not a directory, a duplicate name and unknown fields', async () => {
      const missing = await admin.post('/api/xo-remotes', { name: 'gone', location: scratch.path('nothing') })
      expect(missing.status).toBe(400)
      expect(missing.body.error.message).toMatch(/not a directory/)
      const dup = await admin.post('/api/xo-remotes', { name: 'xo-nfs', location: scratch.path('xo-clear') })
      expect(dup.status).toBe(409)
      const extra = await admin.post('/api/xo-remotes', { name: 'x', location: '/tmp', password: 'p' })
      expect(extra.status).toBe(400)
    })
  })

  describe('browsing', () => {
    it('lists the VMs and the points, each usable or not with the reason', async () => {
      const vms = (await admin.get(`/api/xo-remotes/${clearId}/vms`)).body as {
        uuid: string
        points: number
      }[]
      expect(vms.map((v) => v.uuid).sort()).toEqual(Object.values(VM).sort())
      const points = (await admin.get(`/api/xo-remotes/${clearId}/points`)).body as {
        id: string
        vm: string
        timestamp: number
        mode: string
        jobId: string
        usable: boolean
        reason?: string
        disks: { size: number }[]
      }[]
      expect(points.map((p) => p.id).sort()).toEqual([...clear.points.keys()].sort())
      for (const p of points) {
        const expected = clear.points.get(p.id)!
        expect(p).toMatchObject({ vm: expected.vm, timestamp: expected.timestamp, mode: expected.mode })
        expect(p.usable, p.id).toBe(expected.unusable === undefined)
        if (expected.unusable !== undefined) expect(p.reason).toMatch(expected.unusable)
        else expect(p.disks.map((d) => d.size)).toEqual(expected.disks.map((d) => d.length))
      }
      // A broken chain: that point is unusable with its reason, the VM's other points stay usable.
      expect(
        points.find((p) => p.reason !== undefined && /parent of .* is missing/.test(p.reason)),
      ).toBeDefined()
      expect(points.filter((p) => p.vm === VM.bad && p.usable).length).toBeGreaterThan(0)
      const one = (await admin.get(`/api/xo-remotes/${clearId}/points?vm=${VM.gzip}`)).body as {
        vm: string
      }[]
      expect(one.length).toBe(2)
      expect(one.every((p) => p.vm === VM.gzip)).toBe(true)
    })

    it('answers 404 for a remote that does not exist', async () => {
      const missing = await admin.get('/api/xo-remotes/xo-000000000000/vms')
      expect(missing.status).toBe(404)
    })
  })

  describe('disk downloads', () => {
    const deltaPoint = () => [...clear.points].filter(([, p]) => p.vm === VM.delta).at(-1)!
    const url = (id: string, file: string) =>
      `${server.url}/api/xo-remotes/${clearId}/points/${id}/disks/${file}`

    it('streams a disk raw, byte-identical to the disk it was made from', async () => {
      const [id, point] = deltaPoint()
      for (const [n, disk] of point.disks.entries()) {
        const response = await fetch(url(id, `${n}.raw`), { headers: { cookie: admin.cookie! } })
        expect(response.status).toBe(200)
        expect(response.headers.get('content-length')).toBe(String(disk.length))
        expect(Buffer.from(await response.arrayBuffer()).equals(disk), `disk ${n}`).toBe(true)
      }
      const [xva, full] = [...clear.points].find(([, p]) => p.mode === 'full')!
      const response = await fetch(url(xva, '1.raw'), { headers: { cookie: admin.cookie! } })
      expect(Buffer.from(await response.arrayBuffer()).equals(full.disks[1]!)).toBe(true)
    })

    it('streams a disk as a VHD that qemu-img reads back equal', async () => {
      const [id, point] = deltaPoint()
      const response = await fetch(url(id, '0.vhd'), { headers: { cookie: admin.cookie! } })
      expect(response.status).toBe(200)
      const vhd = scratch.path('d0.vhd')
      await writeFile(vhd, Buffer.from(await response.arrayBuffer()))
      const raw = scratch.path('d0.raw')
      execFileSync(qemuImg, ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw])
      expect((await readFile(raw)).subarray(0, point.disks[0]!.length).equals(point.disks[0]!)).toBe(true)
    })

    it('says which point or disk is missing, and why an unusable point cannot be read', async () => {
      const [id] = deltaPoint()
      const get = (path: string) => admin.get(`/api/xo-remotes/${clearId}/points/${path}`)
      expect((await get(`${id}/disks/7.raw`)).body.error.code).toBe('XO_DISK_NOT_FOUND')
      expect((await get(`${VM.delta}/20990101T000000Z/disks/0.raw`)).status).toBe(404)
      const [broken, expected] = [...clear.points].find(
        ([, p]) => p.unusable !== undefined && p.mode !== 'unknown',
      )!
      const refused = await get(`${broken}/disks/0.raw`)
      expect(refused.status).toBe(422)
      expect(refused.body.error.message).toMatch(expected.unusable!)
    })
  })

  describe('import into a repository', () => {
    it('imports every usable point as a run with progress and a report, then finds them in', async () => {
      const started = await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId })
      expect(started.status, JSON.stringify(started.body)).toBe(202)
      const run = await ended(started.body.runId)
      expect(run).toMatchObject({
        kind: 'xo-import',
        status: 'success',
        jobName: 'import of xo-nfs into local',
      })
      const tree = (await admin.get(`/api/runs/${run.runId}`)).body
      expect(tree.name).toBe('xo-import')
      expect(tree.progress).toMatchObject({ done: tree.progress.total })
      const usable = [...clear.points].filter(
        ([, p]) => p.unusable === undefined && p.failsWith === undefined,
      )
      const report = tree.data.report as {
        imported: { backup: string }[]
        skipped: { backup: string; reason: string }[]
      }
      expect(report.imported.map((p) => p.backup).sort()).toEqual(usable.map(([id]) => id).sort())
      for (const [id, p] of clear.points) {
        if (p.unusable === undefined && p.failsWith === undefined) continue
        const skipped = report.skipped.find((s) => s.backup === id)
        expect(skipped, id).toBeDefined()
        if (p.unusable !== undefined) expect(skipped!.reason).toMatch(p.unusable)
      }
      const children = tree.children as { name: string; status: string; progress?: { total: number } }[]
      const done = children.filter((c) => c.name === 'import' && c.status === 'success')
      expect(done.length).toBe(usable.length)
      expect(children[0]!.progress!.total).toBeGreaterThan(0)
      expect(run.points.length).toBe(usable.length)
      const listed = (await admin.get(`/api/repositories/${repositoryId}/points?vm=${VM.delta}`)).body
      expect(listed.length).toBe(3)

      const again = await ended(
        (await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId })).body.runId,
      )
      const second = (await admin.get(`/api/runs/${again.runId}`)).body.data.report
      expect(second.imported).toEqual([])
      expect(second.skipped.filter((s: { code: string }) => s.code === 'XO_ALREADY_IMPORTED').length).toBe(
        usable.length,
      )
    }, 180_000)

    it('is cancelled, and resumes where it stopped', async () => {
      await Repository.create(new LocalStore(scratch.path('repo2')))
      const other = (
        await admin.post('/api/repositories', { name: 'second', location: scratch.path('repo2') })
      ).body.id
      const started = await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId: other })
      expect(started.status).toBe(202)
      // Cancelled once a point is in: the resume must go on from there, not start over.
      await until('the first point imported', async () => {
        const tree = (await admin.get(`/api/runs/${started.body.runId}`)).body
        return tree.children?.some((c: { status: string }) => c.status === 'success') ? true : undefined
      })
      // Once a point is done, the run gives an ETA for the rest.
      const running = await until('an ETA', async () => {
        const tree = (await admin.get(`/api/runs/${started.body.runId}`)).body
        return tree.eta !== undefined || tree.status !== 'pending' ? tree : undefined
      })
      expect(running.status).toBe('pending')
      expect(running.eta).toBeGreaterThan(0)
      expect(running.progress.done).toBeGreaterThan(0)
      expect(running.progress.total).toBeGreaterThan(running.progress.done)
      expect((await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId: other })).status).toBe(
        409,
      )
      expect((await admin.delete(`/api/xo-remotes/${clearId}`)).body.error.code).toBe('IMPORT_RUNNING')
      const cancelled = await admin.delete(`/api/xo-remotes/${clearId}/import`)
      expect(cancelled.status).toBe(200)
      expect(cancelled.body.runId).toBe(started.body.runId)
      const stopped = await ended(started.body.runId)
      expect(stopped.status).toBe('interrupted')
      expect((await admin.delete(`/api/xo-remotes/${clearId}/import`)).status).toBe(404)
      const resumed = await ended(
        (await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId: other })).body.runId,
      )
      expect(resumed.status).toBe('success')
      const usable = [...clear.points].filter(
        ([, p]) => p.unusable === undefined && p.failsWith === undefined,
      )
      const report = (await admin.get(`/api/runs/${resumed.runId}`)).body.data.report
      const already = report.skipped.filter((s: { code: string }) => s.code === 'XO_ALREADY_IMPORTED')
      expect(report.imported.length + already.length).toBe(usable.length)
      expect(already.length).toBeGreaterThan(0)
      expect(report.imported.length).toBeGreaterThan(0)
    }, 180_000)

    it('imports only the VMs asked for, and fails naming a VM the remote does not hold', async () => {
      await Repository.create(new LocalStore(scratch.path('repo3')))
      const third = (
        await admin.post('/api/repositories', { name: 'third', location: scratch.path('repo3') })
      ).body.id
      const one = await ended(
        (await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId: third, vms: ['db'] })).body
          .runId,
      )
      const report = (await admin.get(`/api/runs/${one.runId}`)).body.data.report
      expect(report.imported.map((p: { vm: string }) => p.vm)).toEqual([VM.gzip, VM.gzip])
      const missing = await ended(
        (await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId: third, vms: ['nope'] })).body
          .runId,
      )
      expect(missing).toMatchObject({ status: 'failure', error: { code: 'XO_BACKUP_NOT_FOUND' } })
      expect(missing.error.message).toMatch(/no restore point of a VM 'nope'/)
    }, 180_000)

    it('refuses a repository that does not exist', async () => {
      const refused = await admin.post(`/api/xo-remotes/${clearId}/import`, { repositoryId: 'repo-nothing' })
      expect(refused.status).toBe(404)
    })
  })

  it('never wrote to the remotes: every file byte- and mtime-identical', async () => {
    expect(await treeState(scratch.path('xo-clear'))).toEqual(before.clear)
    expect(await treeState(scratch.path('xo-encrypted'))).toEqual(before.encrypted)
  })
})
