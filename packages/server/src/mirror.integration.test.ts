// Mirror jobs run by the server (docs/mirror.md), against the lab: a backup job fills a plain repository,
// a mirror job copies its points into two encrypted ones with different keys in one run (each
// repository's secret from the server's sealed config, never in a log), the targets' points read back
// byte-identical, a second run copies only the new chunks (counted in the run's task tree), the target's
// retention keeps what its schedule says, and a mirror of an encrypted copy into a third key restores
// the disk that was backed up.
import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readSpans } from '@strata/core/disks'
import { DiskReader, listPoints, Repository, type PointRef } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary } from '@strata/core/testing'
import { startLabJob, until, type LabJob } from './testing/lab-job.js'

const MiB = 1024 * 1024
const PASSPHRASE = 'the mirror target passphrase'
const VAULT_PASSPHRASE = 'another key for the vault'
const COLD_PASSPHRASE = 'a third key, for the cold copy'

interface Node {
  name: string
  status: string
  data: Record<string, unknown>
  children: Node[]
}
const find = (node: Node, name: string): Node[] => [
  ...(node.name === name ? [node] : []),
  ...node.children.flatMap((c) => find(c, name)),
]

async function digest(repo: Repository, ref: PointRef): Promise<string> {
  const reader = await DiskReader.open(repo, ref)
  const hash = createHash('sha256')
  const parts: Buffer[] = []
  const all = Array.from({ length: reader.chunkCount }, (_, i) => i)
  for await (const { index, data } of readSpans(reader, all, reader.chunkSize, 4))
    parts[index] = Buffer.from(data)
  for (const part of parts) hash.update(part)
  return `${reader.size}:${hash.digest('hex')}`
}

describe('mirror jobs run by the server', { timeout: 180_000 }, () => {
  let t: LabJob
  let targetId: string
  let vaultId: string
  let mirrorId: string

  const ended = (runId: string) =>
    until(
      `run ${runId}`,
      async () => {
        const { body } = await t.api.get('/api/runs?limit=1000')
        return (body as { runId: string; status: string; kind?: string }[]).find(
          (r) => r.runId === runId && r.status !== 'pending',
        )
      },
      120_000,
    )
  const runMirror = async () => {
    const started = await t.api.post(`/api/jobs/${mirrorId}/run`)
    expect(started.status, JSON.stringify(started.body)).toBe(202)
    const run = await ended(started.body.runId)
    const tree = (await t.api.get(`/api/runs/${run.runId}`)).body as Node
    return { run, tree }
  }
  const open = async () => ({
    source: await Repository.open(new LocalStore(t.scratch.path('repo'))),
    target: await Repository.open(new LocalStore(t.scratch.path('offsite')), {
      passphrase: new TextEncoder().encode(PASSPHRASE),
    }),
    vault: await Repository.open(new LocalStore(t.scratch.path('vault')), {
      passphrase: new TextEncoder().encode(VAULT_PASSPHRASE),
    }),
  })

  beforeAll(async () => {
    requireBinary('openssl')
    t = await startLabJob('mirror')
    const target = await t.api.post('/api/repositories', {
      name: 'offsite',
      location: t.scratch.path('offsite'),
      init: true,
      passphrase: PASSPHRASE,
    })
    expect(target.status, JSON.stringify(target.body)).toBe(201)
    targetId = target.body.id
    const vault = await t.api.post('/api/repositories', {
      name: 'vault',
      location: t.scratch.path('vault'),
      init: true,
      passphrase: VAULT_PASSPHRASE,
    })
    expect(vault.status, JSON.stringify(vault.body)).toBe(201)
    vaultId = vault.body.id
    const job = await t.api.post('/api/jobs', {
      name: 'Offsite copy',
      kind: 'mirror',
      vms: { smart: {} },
      repositories: [t.repositoryId],
      mirrorTo: [targetId, vaultId],
      schedules: [{ id: 'nightly', cron: '0 3 * * *', retention: { keepLast: 2 } }],
    })
    expect(job.status, JSON.stringify(job.body)).toBe(201)
    expect(job.body).toMatchObject({ kind: 'mirror', mirrorTo: [targetId, vaultId] })
    mirrorId = job.body.id
  }, 120_000)
  afterAll(() => t?.close())

  it('refuses a mirror job to an unknown repository or its source, and turns one into a backup job', async () => {
    const bad = { name: 'Bad', kind: 'mirror', vms: { smart: {} }, repositories: [t.repositoryId] }
    const unknown = await t.api.post('/api/jobs', { ...bad, mirrorTo: ['repo-nope'] })
    expect(unknown.status).toBe(400)
    expect(JSON.stringify(unknown.body)).toContain("no repository 'repo-nope'")
    const itself = await t.api.post('/api/jobs', { ...bad, mirrorTo: [t.repositoryId] })
    expect(itself.status).toBe(400)
    expect(JSON.stringify(itself.body)).toContain('is not its own mirror')
    // A mirror job made a backup job: its targets go with an empty list, as a replication's do.
    const spare = await t.api.post('/api/jobs', { ...bad, name: 'Spare', mirrorTo: [targetId] })
    expect(spare.status, JSON.stringify(spare.body)).toBe(201)
    const kept = await t.api.patch(`/api/jobs/${spare.body.id}`, { kind: 'backup' })
    expect(kept.status).toBe(400)
    expect(JSON.stringify(kept.body)).toContain('only a mirror job has mirror targets')
    const backup = await t.api.patch(`/api/jobs/${spare.body.id}`, { kind: 'backup', mirrorTo: [] })
    expect(backup.status, JSON.stringify(backup.body)).toBe(200)
    expect(backup.body.kind).toBe('backup')
    expect(backup.body).not.toHaveProperty('mirrorTo')
    expect((await t.api.request('DELETE', `/api/jobs/${spare.body.id}`)).status).toBe(204)
    // A mirror's target is in use: the server keeps it.
    const removal = await t.api.request('DELETE', `/api/repositories/${vaultId}`)
    expect(removal.status).toBe(409)
    expect(JSON.stringify(removal.body)).toContain("used by job 'Offsite copy'")
  })

  it('copies a backup into encrypted repositories with different keys, byte-identical, then only the new chunks', async () => {
    const vdi = t.lab.guest.disks(t.lab.ref('VM', 'web-a'))[0]!
    await t.lab.guest.write(vdi, 0, randomBytes(3 * MiB))
    expect((await t.run()).status).toBe('success')
    const first = await runMirror()
    expect(first.run).toMatchObject({ status: 'success', kind: 'mirror' })
    const [toOffsite, toVault] = find(first.tree, 'mirror')
    expect(toOffsite?.data).toMatchObject({ target: 'offsite', copiedPoints: 1 })
    expect(toVault?.data).toMatchObject({ target: 'vault', copiedPoints: 1 })
    expect(toOffsite!.data.copiedChunks as number).toBeGreaterThan(0)
    expect(toVault!.data.copiedChunks).toBe(toOffsite!.data.copiedChunks)

    let { source, target, vault } = await open()
    const points = await listPoints(source)
    for (const copy of [target, vault]) {
      expect((await listPoints(copy)).map((p) => p.pointId)).toEqual(points.map((p) => p.pointId))
      for (const p of points) expect(await digest(copy, p)).toBe(await digest(source, p))
    }

    // One new MiB in the guest: the next point shares every other chunk with the first.
    await t.lab.guest.write(vdi, 4 * MiB, randomBytes(MiB))
    expect((await t.run()).status).toBe('success')
    const second = await runMirror()
    expect(second.run.status).toBe('success')
    const data = find(second.tree, 'mirror')[0]!.data
    expect(data).toMatchObject({ copiedPoints: 1, alreadyThere: 1 })
    expect(data.copiedChunks as number).toBeGreaterThan(0)
    expect(data.copiedChunks as number).toBeLessThanOrEqual(2) // 1 MiB: one or two chunks, not the disk
    expect(data.skippedChunks as number).toBeGreaterThan(0)
    ;({ source, target, vault } = await open())
    const newest = (await listPoints(source)).at(-1)!
    expect(await digest(target, newest)).toBe(await digest(source, newest))
    expect(await digest(vault, newest)).toBe(await digest(source, newest))
  })

  it("applies the schedule's retention on the target", async () => {
    const vdi = t.lab.guest.disks(t.lab.ref('VM', 'web-a'))[0]!
    await t.lab.guest.write(vdi, 0, randomBytes(MiB))
    expect((await t.run()).status).toBe('success')
    const third = await runMirror()
    expect(third.run.status).toBe('success')
    expect(find(third.tree, 'mirror')[0]!.data).toMatchObject({ removedPoints: 1 })
    const { source, target } = await open()
    const newestTwo = (await listPoints(source)).slice(-2).map((p) => p.pointId)
    expect((await listPoints(source)).length).toBe(3)
    expect((await listPoints(target)).map((p) => p.pointId)).toEqual(newestTwo)
  })

  it('mirrors the encrypted copy into another key, and a disk restored from there is the one backed up', async () => {
    const cold = await t.api.post('/api/repositories', {
      name: 'cold',
      location: t.scratch.path('cold'),
      init: true,
      passphrase: COLD_PASSPHRASE,
    })
    expect(cold.status, JSON.stringify(cold.body)).toBe(201)
    const job = await t.api.post('/api/jobs', {
      name: 'Cold copy',
      kind: 'mirror',
      vms: { uuids: ['web-a'] },
      repositories: [targetId],
      mirrorTo: [cold.body.id],
    })
    expect(job.status, JSON.stringify(job.body)).toBe(201)
    const started = await t.api.post(`/api/jobs/${job.body.id}/run`)
    const run = await ended(started.body.runId)
    expect(run.status).toBe('success')
    const tree = (await t.api.get(`/api/runs/${run.runId}`)).body as Node
    expect(find(tree, 'mirror')[0]!.data).toMatchObject({ target: 'cold', copiedPoints: 2 })

    const { source } = await open()
    const newest = (await listPoints(source)).at(-1)!
    const [pool] = (await t.api.get('/api/pools')).body as { id: string }[]
    const srs = (await t.api.get(`/api/pools/${pool!.id}/objects?type=SR`)).body as {
      uuid: string
      name_label: string
    }[]
    const restore = await t.api.post('/api/restores', {
      repositoryId: cold.body.id,
      pointId: newest.pointId,
      kind: 'disk',
      disk: 0,
      poolId: pool!.id,
      srUuid: srs.find((sr) => sr.name_label === 'Local storage')!.uuid,
    })
    expect(restore.status, JSON.stringify(restore.body)).toBe(202)
    expect((await ended(restore.body.runId)).status).toBe('success')
    const restored = (await t.api.get(`/api/runs/${restore.body.runId}`)).body as Node
    const [ref, vdi] = t.lab.state.db.find('VDI', (r) => r.uuid === restored.data.vdiUuid)[0]!
    const size = Number(vdi.virtual_size)
    const bytes = await t.lab.state.disks.read(ref, 0, size)
    const hash = createHash('sha256').update(bytes).digest('hex')
    expect(`${size}:${hash}`).toBe(await digest(source, newest))
  })
  it("never writes a repository's secret in the server's log or a run's log", async () => {
    const runs = t.scratch.path('data')
    const logs = (await readdir(runs, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith('.jsonl'))
      .map((e) => join(e.parentPath, e.name))
    expect(logs.length).toBeGreaterThan(0)
    for (const file of logs) {
      const text = await readFile(file, 'utf8')
      expect(text).not.toContain(PASSPHRASE)
      expect(text).not.toContain(VAULT_PASSPHRASE)
      expect(text).not.toContain(COLD_PASSPHRASE)
    }
    expect(t.log.join('\n')).not.toContain(PASSPHRASE)
    expect(t.log.join('\n')).not.toContain(VAULT_PASSPHRASE)
    expect(t.log.join('\n')).not.toContain(COLD_PASSPHRASE)
  })
})
