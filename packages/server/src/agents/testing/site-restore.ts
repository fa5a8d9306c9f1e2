// The two-site test's restore at B: a VM restore from B's repository onto B's pool, ordered from A, with
// the bytes that crossed the veth while it ran; and the two sides to compare afterwards, each hashed
// where it is: the point's disk read from the repository's directory, the restored VM's disk exported by
// B's pool (over the veth, once the restore's count is taken).
import { createHash } from 'node:crypto'
import { DiskReader, listPoints, Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { exportVdi, XapiClient } from '@strata/core/xapi'
import { until } from '../../testing/lab-job.js'
import type { PinnedAdmin, SitePool } from './pinned-admin.js'
import type { TwoSites } from './two-sites.js'

export interface SiteRestore {
  readonly runId: string
  readonly vmUuid: string
  /** Bytes through the veth while the restore ran, both ways. */
  readonly crossed: number
}

export async function restoreAtB(
  admin: PinnedAdmin,
  sites: TwoSites,
  o: { repositoryId: string; poolId: string; lab: SitePool; agentErr: () => string },
): Promise<SiteRestore> {
  const points = await admin.request<{ id: string }[]>('GET', `/api/repositories/${o.repositoryId}/points`)
  const srUuid = await withPool(o.lab, async (xapi) => {
    const srs = await xapi.call<Record<string, { uuid: string; content_type: string }>>(
      'SR.get_all_records',
      [],
    )
    return Object.values(srs).find((sr) => sr.content_type !== 'iso')!.uuid
  })
  const before = await sites.crossed()
  const started = await admin.request<{ runId: string }>('POST', '/api/restores', {
    repositoryId: o.repositoryId,
    pointId: points.body[0]!.id,
    poolId: o.poolId,
    srUuid,
    kind: 'vm',
  })
  if (started.status !== 202) throw new Error(`restore: ${started.status} ${JSON.stringify(started.body)}`)
  const { runId } = started.body
  const run = await until(
    'the restore at B',
    async () =>
      (await admin.request<{ runId: string; status: string }[]>('GET', '/api/runs?job=restore')).body.find(
        (r) => r.runId === runId && r.status !== 'pending',
      ),
    180_000,
  )
  const crossed = (await sites.crossed()) - before
  const tree = (
    await admin.request<{ status: string; data?: { vmUuid?: string } }>('GET', `/api/runs/${runId}`)
  ).body
  if (run.status !== 'success' || tree.data?.vmUuid === undefined)
    throw new Error(
      `the restore ended ${run.status}: ${JSON.stringify(tree)}; the agent said: ${o.agentErr()}`,
    )
  return { runId, vmUuid: tree.data.vmUuid, crossed }
}

/** SHA-256 of the restored VM's one disk, exported raw by B's pool. */
export async function restoredDisk(lab: SitePool, vmUuid: string): Promise<string> {
  return withPool(lab, async (xapi) => {
    const vm = await xapi.call<string>('VM.get_by_uuid', [vmUuid])
    const vdis: string[] = []
    for (const vbd of await xapi.call<string[]>('VM.get_VBDs', [vm]))
      if ((await xapi.call<string>('VBD.get_type', [vbd])) === 'Disk')
        vdis.push(await xapi.call('VBD.get_VDI', [vbd]))
    if (vdis.length !== 1) throw new Error(`the restored VM has ${vdis.length} disks`)
    const hash = createHash('sha256')
    for await (const part of await exportVdi(xapi, vdis[0]!, { format: 'raw' })) hash.update(part as Buffer)
    return hash.digest('hex')
  })
}

/** SHA-256 of the disk of the repository's one point, and how many of its bytes are data (not zeros). */
export async function pointDisk(repoPath: string): Promise<{ sha256: string; dataBytes: number }> {
  const repo = await Repository.open(new LocalStore(repoPath))
  const points = await listPoints(repo)
  if (points.length !== 1) throw new Error(`${points.length} points at B`)
  const disk = await DiskReader.open(repo, points[0]!)
  const hash = createHash('sha256')
  let dataBytes = 0
  for (let i = 0; i < disk.chunkCount; i++) {
    if (disk.idOf(i) !== undefined) dataBytes += disk.chunkLength(i)
    hash.update(await disk.readChunk(i))
  }
  return { sha256: hash.digest('hex'), dataBytes }
}

async function withPool<T>(lab: SitePool, f: (xapi: XapiClient) => Promise<T>): Promise<T> {
  const xapi = new XapiClient({
    url: lab.url,
    user: lab.user,
    password: lab.password,
    fingerprint: lab.fingerprint,
  })
  try {
    return await f(xapi)
  } finally {
    await xapi.close()
  }
}
