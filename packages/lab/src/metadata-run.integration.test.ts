// A metadata job's run in a worker process against the lab: the pool's database (GET /pool/xmldbdump)
// and the caller's files stored as restore points of files, with the schedule's retention; the dump
// taken from the repository restores the pool (the change made after it is gone); a pool that cannot be
// reached fails the run, named, while the other pool's database is still stored.
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CONFIG_METADATA_ID,
  POOL_DUMP_FILE,
  parseJob,
  poolMetadataId,
  readRun,
  runJobInWorker,
  type TaskNode,
} from '@strata/core/engine'
import { Repository, listPoints, readFilePoint, readPointFile } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { XapiClient, upload } from '@strata/core/xapi'
import type { LabPool } from './lab-pool.js'
import { startLabPools, type LabPools } from './testing/index.js'

const FUSE_MS = 100

describe('metadata job runs', () => {
  let pools: LabPools
  let a: LabPool
  let scratch: Scratch
  const poolOf = (lab: LabPool, id: string) => ({ id, name: `pool ${id}`, ...lab.connection })
  const job = (extraPools: object[] = []) =>
    parseJob({
      id: 'meta',
      kind: 'metadata',
      pools: [poolOf(a, 'lab'), ...extraPools],
      vms: {},
      repositories: [{ name: 'local', location: scratch.path('repo') }],
      schedules: [{ id: 'daily', retention: { keepLast: 2 } }],
    })
  const config = [{ name: 'config.json', data: new TextEncoder().encode('{"jobs":[]}') }]
  const run = (j = job()) =>
    runJobInWorker({
      job: j,
      scheduleId: 'daily',
      dataDir: scratch.path('engine'),
      signal: AbortSignal.timeout(60_000),
      configFiles: config,
      configInfo: { server: 'test' },
    })

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    const options = { authFailureDelayMs: 10, restoreFuseMs: FUSE_MS, nbd: false as const }
    pools = await startLabPools({ ...options, vms: [{ name: 'web', power: 'Halted', disks: [8] }] })
    ;[a] = pools.pools as [LabPool]
    scratch = await scratchDir()
    await Repository.create(new LocalStore(scratch.path('repo')), { chunkSize: 1024 * 1024 })
  })
  afterAll(async () => {
    await pools?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it("stores the pool's database and the caller's files, keeps two of each, and the dump restores the pool", async () => {
    for (let i = 0; i < 3; i++) expect((await run()).status).toBe('success')
    const repo = await Repository.open(new LocalStore(scratch.path('repo')))
    const uuid = String(a.state.db.find('pool', () => true)[0]![1].uuid)
    const points = await listPoints(repo, poolMetadataId(uuid))
    expect(points).toHaveLength(2)
    expect(await listPoints(repo, CONFIG_METADATA_ID)).toHaveLength(2)
    const last = points.at(-1)!
    expect((await readFilePoint(repo, last)).metadata).toMatchObject({
      kind: 'metadata',
      what: 'pool',
      pool: { id: 'lab', uuid },
    })
    const dump = await readPointFile(repo, last, POOL_DUMP_FILE)
    expect(Buffer.from(dump).toString('utf8')).toMatch(/^<\?xml[^>]*>\n<database><manifest>/)
    const stored = await listPoints(repo, CONFIG_METADATA_ID)
    const configPoint = await readFilePoint(repo, stored.at(-1)!)
    expect(configPoint.metadata).toMatchObject({ kind: 'metadata', what: 'config', server: 'test' })
    expect(Buffer.from(await readPointFile(repo, stored.at(-1)!, 'config.json')).toString()).toBe(
      '{"jobs":[]}',
    )

    // The change after the dump is gone once the stored dump is restored through XAPI.
    const xapi = new XapiClient(a.connection)
    try {
      await xapi.call('VM.set_name_label', [a.ref('VM', 'web'), 'renamed after the backup'])
      await upload(xapi, {
        method: 'PUT',
        path: '/pool/xmldbdump',
        query: { dry_run: 'false' },
        label: 'pool database restore',
        body: { open: () => Readable.from([Buffer.from(dump)]), length: dump.length },
      })
      await new Promise((r) => setTimeout(r, FUSE_MS + 400))
      expect(a.vmNames()).toEqual(['web'])
    } finally {
      await xapi.close()
    }
  })

  it('fails a run naming the pool that could not be reached, and still stores the others', async () => {
    const repo = await Repository.open(new LocalStore(scratch.path('repo')))
    const before = (await listPoints(repo)).length
    const gone = { ...poolOf(a, 'gone'), url: 'https://127.0.0.1:9', name: 'pool gone' }
    const result = await run(job([gone]))
    expect(result.status).toBe('failure')
    const root: TaskNode = await readRun(scratch.path('engine/runs'), result.runId)
    expect(root.name).toBe('metadata run')
    expect(root.error).toMatchObject({ code: 'POOL_UNREACHABLE' })
    expect(root.error?.message).toContain("pool 'pool gone'")
    // Retention kept two of each, and this run's two points are there.
    expect((await listPoints(repo)).length).toBe(before)
    const stored = root.children.filter((c) => c.name === 'pool metadata')
    expect(stored.map((c) => c.status)).toEqual(['success'])
  })
})
