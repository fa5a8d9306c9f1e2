// Replication with memory (a checkpoint: the replica is Suspended and resumes the memory image that was
// copied), and the faults a replication meets on its target: an import cut midway, a full SR, a pool that
// cannot be reached. Each leaves the last good replica as it was (same VM, same bytes, startable) and
// nothing of the failed attempt; a retry completes.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { healthCheckReplica } from '../../src/engine/health/index.js'
import {
  failover,
  listReplicas,
  replicateVm,
  type VmReplicationSettings,
} from '../../src/engine/replication/index.js'
import {
  expectReplicaEqualsSource,
  looseVdis,
  srUuidOf,
  startTwoPools,
  targetVms,
  type TwoPools,
} from './replication-fixture.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

describe('replication with memory, and faults on the target', () => {
  let env: TwoPools
  const settings = (o: Partial<VmReplicationSettings> = {}): VmReplicationSettings => ({
    runId: `run-${Math.random().toString(16).slice(2)}`,
    jobId: 'job-f',
    jobName: 'Faults',
    scheduleId: 'sched-f',
    mode: 'delta',
    changedBlocks: 'auto',
    preferNbd: true,
    retention: { policy: { keepLast: 3 }, timeZone: 'UTC' },
    ...o,
  })
  const toB = () => [{ poolId: 'b', xapi: env.xb, srUuid: srUuidOf(env.b) }]
  const replicate = (o: Partial<VmReplicationSettings> = {}) =>
    replicateVm(silentTask(), env.xa, env.limits, env.vmUuid, toB(), settings(o))
  const byUuid = (uuid: string, lab = env.b): string => lab.state.db.find('VM', (r) => r.uuid === uuid)[0]![0]

  /** The replica VMs of job-f on B (uuids). */
  const jobReplicas = (): string[] =>
    targetVms(env.b)
      .replicas.map((r) => env.b.state.db.get('VM', r))
      .filter((r) => (r.other_config as Record<string, string>)['xo:backup:job'] === 'job-f')
      .map((r) => String(r.uuid))

  /** The one replica of job-f on B, its bytes as they are, and nothing loose or pending. */
  async function expectLastGoodReplica(vmUuid: string): Promise<void> {
    expect(jobReplicas()).toEqual([vmUuid])
    await expectReplicaEqualsSource(env.a, env.b, byUuid(vmUuid))
    expect(looseVdis(env.b)).toEqual([])
    const listed = await listReplicas(env.xb)
    expect(listed.filter((l) => l.pending)).toEqual([])
  }

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startTwoPools([32])
  })
  afterAll(async () => {
    await env?.close()
  })

  it('keeps the memory: the replica is Suspended on a copy of the checkpoint image and resumes it', async () => {
    const first = await replicate({ withMemory: true, jobId: 'job-mem' })
    expect(first.memory).toBe(true)
    const vm = byUuid(first.replicas[0]!.vmUuid)
    const r = env.b.state.db.get('VM', vm)
    expect(r.power_state).toBe('Suspended')
    const image = await env.b.readDisk(String(r.suspend_VDI))
    // The source's checkpoint (kept as the next run's base) holds the same image.
    const [, checkpoint] = env.a.state.db.find(
      'VM',
      (x) => x.snapshot_of === env.vm && String(x.suspend_VDI) !== 'OpaqueRef:NULL',
    )[0]!
    expect(sha(await env.a.readDisk(String(checkpoint.suspend_VDI)))).toBe(sha(image))
    await expectReplicaEqualsSource(env.a, env.b, vm)
    // A second run: changed blocks only, still suspended with the new image.
    await env.a.guest.writeRandomBlocks(env.disks[0]!, 2)
    const second = await replicate({ withMemory: true, jobId: 'job-mem' })
    expect(second.full).toBe(false)
    const vm2 = byUuid(second.replicas[0]!.vmUuid)
    expect(env.b.state.db.get('VM', vm2).power_state).toBe('Suspended')
    // A health check of it resumes a clone (memory included) and leaves nothing.
    const vms = env.b.state.db.find('VM', () => true).length
    const vdis = env.b.state.db.find('VDI', () => true).length
    const check = { timeoutMs: 20_000, guestCheck: false, pollMs: 50 }
    await expect(healthCheckReplica(silentTask(), env.xb, vm2, check)).resolves.toMatchObject({
      status: 'success',
    })
    expect(env.b.state.db.find('VM', () => true).length).toBe(vms)
    expect(env.b.state.db.find('VDI', () => true).length).toBe(vdis)
    expect(env.b.state.db.get('VM', vm2).power_state).toBe('Suspended')
    const done = await failover(silentTask(), env.xb, { replica: second.replicas[0]!.vmUuid })
    expect(done.resumed).toBe(true)
    expect(env.b.state.db.get('VM', vm2).power_state).toBe('Running')
    expect(env.b.resumedMemory(vm2)?.size).toBeGreaterThan(0)
    await env.xb.call('VM.hard_shutdown', [vm2])
    // Without memory, the run says its replicas are crash-consistent.
    const infos: string[] = []
    const task = { ...silentTask(), info: (m: string) => infos.push(m) }
    task.child = (_n, fn) => fn(task)
    await replicateVm(task, env.xa, env.limits, env.vmUuid, toB(), settings({ jobId: 'job-plain' }))
    expect(infos.some((m) => m.startsWith('crash-consistent'))).toBe(true)
  })

  it('leaves the last good replica intact when the import is cut midway, then a retry completes', async () => {
    const good = await replicate()
    await env.a.guest.writeRandomBlocks(env.disks[0]!, 4)
    // Cut once the upload's first frame (a 64 KiB run CBT names, if alone) has landed in the fresh
    // clone, before the end frame: the replica being replaced must not see it.
    env.b.faults.failHttp('/import_raw_vdi', { kind: 'cut', afterBytes: 12 + 64 * 1024 })
    await expect(replicate()).rejects.toThrow()
    await expectLastGoodReplica(good.replicas[0]!.vmUuid)
    const retry = await replicate()
    expect(retry.full).toBe(false)
    await expectLastGoodReplica(retry.replicas[0]!.vmUuid)
  })

  it('leaves the last good replica intact when the target SR is full', async () => {
    const good = jobReplicas()[0]!
    const sr = env.b.state.db.find('SR', (r) => r.uuid === srUuidOf(env.b))[0]![0]
    const size = Number(env.b.state.db.get('SR', sr).physical_size)
    await env.a.guest.writeRandomBlocks(env.disks[0]!, 4)
    env.b.setSrPhysicalSize(sr, Number(env.b.state.db.get('SR', sr).physical_utilisation) + 1024 * 1024)
    await expect(replicate()).rejects.toThrow()
    await expectLastGoodReplica(good)
    env.b.setSrPhysicalSize(sr, size)
    const retry = await replicate()
    await expectLastGoodReplica(retry.replicas[0]!.vmUuid)
  })

  it('fails cleanly when the target pool cannot be reached, and the next run completes', async () => {
    const good = jobReplicas()[0]!
    await env.a.guest.writeRandomBlocks(env.disks[0]!, 2)
    await env.b.faults.setUnreachable('refuse')
    try {
      await expect(replicate()).rejects.toThrow()
    } finally {
      await env.b.faults.setUnreachable(undefined)
    }
    await expectLastGoodReplica(good)
    const retry = await replicate()
    expect(retry.full).toBe(false)
    await expectLastGoodReplica(retry.replicas[0]!.vmUuid)
  })

  // Last: the target's client remembers the refusal for the rest of its life.
  it('writes a delta by VHD imports on a pool that refuses chunked ones, and says so', async () => {
    await env.a.guest.writeRandomBlocks(env.disks[0]!, 3)
    env.b.faults.refuseChunkedImport = true
    try {
      const run = await replicate()
      expect(run.full).toBe(false)
      expect(run.warnings.filter((w) => /refuses chunked raw imports/.test(w))).toHaveLength(1)
      // Whole 2 MiB blocks crossed for the few 64 KiB runs written.
      expect(run.bytesWritten).toBeLessThan(1024 * 1024)
      expect(run.bytesSent).toBeGreaterThan(2 * 1024 * 1024)
      await expectLastGoodReplica(run.replicas[0]!.vmUuid)
    } finally {
      env.b.faults.refuseChunkedImport = false
    }
  })
})
