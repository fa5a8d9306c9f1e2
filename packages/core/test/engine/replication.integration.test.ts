// Delta replication of a running VM from one lab pool to another: the first run copies every disk, each
// later run only the blocks the guest changed; after each run the replica's disks are byte-identical to
// the source snapshot of that run, a restore point is kept per run and retention trims them; the replica
// is tagged, HA-off, start-blocked, carries XO's keys; failover starts it. Then disaster recovery (full
// copies) on the same pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import {
  failover,
  listReplicas,
  replicateVm,
  type ReplicaTargetSession,
  type VmReplicationSettings,
} from '../../src/engine/replication/index.js'
import {
  changedBytes,
  expectReplicaEqualsSource,
  looseVdis,
  srUuidOf,
  startTwoPools,
  targetVms,
  type TwoPools,
} from './replication-fixture.js'

const MiB = 1024 * 1024

describe('replicateVm against two lab pools', () => {
  let env: TwoPools
  const settings = (o: Partial<VmReplicationSettings> = {}): VmReplicationSettings => ({
    runId: `run-${Math.random().toString(16).slice(2)}`,
    jobId: 'job-r',
    jobName: 'DR site',
    scheduleId: 'sched-1',
    mode: 'delta',
    changedBlocks: 'auto',
    preferNbd: true,
    retention: { policy: { keepLast: 2 }, timeZone: 'UTC' },
    ...o,
  })
  const toB = (): ReplicaTargetSession[] => [
    { poolId: 'b', poolName: 'pool B', xapi: env.xb, srUuid: srUuidOf(env.b) },
  ]
  const replicate = (o: Partial<VmReplicationSettings> = {}, targets = toB()) =>
    replicateVm(silentTask(), env.xa, env.limits, env.vmUuid, targets, settings(o))

  const byUuid = (uuid: string, lab = env.b): string => lab.state.db.find('VM', (r) => r.uuid === uuid)[0]![0]

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startTwoPools([64, 16])
  })
  afterAll(async () => {
    await env?.close()
  })

  it('copies every disk first, then only the changed blocks, each run a byte-identical restore point', async () => {
    const total = 80 * MiB
    const first = await replicate()
    expect(first.full).toBe(true)
    expect(first.memory).toBe(false)
    expect(first.replicas).toHaveLength(1)
    const replica = byUuid(first.replicas[0]!.vmUuid)
    await expectReplicaEqualsSource(env.a, env.b, replica)
    const point1 = byUuid(first.replicas[0]!.pointUuid!)
    await expectReplicaEqualsSource(env.a, env.b, point1)

    const seen = [first.replicas[0]!.pointUuid]
    let before = await expectReplicaEqualsSource(env.a, env.b, replica)
    for (let run = 2; run <= 3; run++) {
      await env.a.guest.writeRandomBlocks(env.disks[0]!, 3)
      await env.a.guest.write(env.disks[1]!, 3 * MiB + 4096, Buffer.alloc(9000, run))
      await env.a.guest.writeFile(env.disks[0]!, `/srv/run-${run}.txt`, `written before run ${run}\n`)
      const changed = changedBytes(env.a, before, env.disks)
      const next = await replicate()
      expect(next.full, `run ${run}`).toBe(false)
      expect(next.warnings, `run ${run}`).toEqual([])
      const vm = byUuid(next.replicas[0]!.vmUuid)
      const held = await expectReplicaEqualsSource(env.a, env.b, vm)
      // Only the changed 64 KiB runs crossed (not their 2 MiB blocks): exactly what CBT names, read once
      // and written once; a few of them, of 80 MiB.
      expect(changed.bytes, `run ${run}`).toBeGreaterThanOrEqual(2 * 64 * 1024) // disk 1: one run; disk 0: some
      expect(changed.bytes, `run ${run}`).toBeLessThan(total / 40)
      expect(next.bytesRead, `run ${run}`).toBe(changed.bytes)
      expect(next.bytesWritten, `run ${run}`).toBe(changed.bytes)
      // The chunked uploads carry just those runs, a 12-byte frame header each (and an end frame).
      expect(next.bytesSent, `run ${run}`).toBe(changed.sent)
      before = held
      // The replica holds this run's snapshot, not the previous one's.
      expect(held).not.toEqual(await expectReplicaEqualsSource(env.a, env.b, point1).catch(() => []))
      seen.push(next.replicas[0]!.pointUuid)
    }
    // One replica VM (the previous ones replaced), two restore points (keepLast 2): the oldest went.
    const { replicas, points, others } = targetVms(env.b)
    expect(replicas).toHaveLength(1)
    expect(others).toEqual([])
    const pointUuids = points.map((p) => String(env.b.state.db.get('VM', p).uuid)).sort()
    expect(pointUuids).toEqual([seen[1], seen[2]].sort())
    expect(looseVdis(env.b)).toEqual([])
  })

  it('tags the replica, turns HA off, blocks start with a reason and writes the keys XO uses', async () => {
    const { replicas } = targetVms(env.b)
    const r = env.b.state.db.get('VM', replicas[0]!)
    expect(r.tags).toContain('Continuous Replication')
    expect(r.ha_restart_priority).toBe('')
    expect(r.power_state).toBe('Halted')
    const blocked = r.blocked_operations as Record<string, string>
    expect(blocked.start).toMatch(/replica.*failover/)
    const oc = r.other_config as Record<string, string>
    expect(oc['xo:backup:job']).toBe('job-r')
    expect(oc['xo:backup:schedule']).toBe('sched-1')
    expect(oc['xo:backup:vm']).toBe(env.vmUuid)
    expect(oc['xo:backup:sr']).toBe(srUuidOf(env.b))
    expect(oc['xo:backup:datetime']).toMatch(/^\d{8}T\d{2}:\d{2}:\d{2}Z$/)
    expect(oc['strata:replica:pending']).toBeUndefined()
    expect(String(r.name_label)).toMatch(/^web-01 - DR site \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)$/)
    await expect(env.xb.call('VM.start', [replicas[0], false, false])).rejects.toMatchObject({
      code: 'OPERATION_BLOCKED',
    })
    const listed = await listReplicas(env.xb)
    expect(listed.filter((l) => l.kind === 'replica')).toMatchObject([
      { sourceVmUuid: env.vmUuid, sourceVmName: 'web-01', mode: 'delta', pending: false, memory: false },
    ])
  })

  it('fails over: a clone keeps the chain, the replica itself starts and is never replaced', async () => {
    const cloned = await failover(silentTask(), env.xb, { replica: 'web-01', clone: true })
    expect(cloned.cloned).toBe(true)
    const clone = env.b.state.db.find('VM', (r) => r.uuid === cloned.vmUuid)[0]![1]
    expect(clone.power_state).toBe('Running')
    expect(targetVms(env.b).replicas).toHaveLength(1)
    await env.xb.call('VM.hard_shutdown', [byUuid(cloned.vmUuid)])
    await env.xb.call('VM.destroy', [byUuid(cloned.vmUuid)])

    const [replica] = targetVms(env.b).replicas
    const started = await failover(silentTask(), env.xb, { replica: 'web-01' })
    expect(started.cloned).toBe(false)
    const r = env.b.state.db.get('VM', replica!)
    expect(r.power_state).toBe('Running')
    expect(r.tags).not.toContain('Continuous Replication')
    // The next run neither replaces nor removes the failed-over VM: it makes a new replica beside it.
    await env.a.guest.writeRandomBlocks(env.disks[0]!, 1)
    const next = await replicate()
    expect(env.b.state.db.get('VM', replica!).power_state).toBe('Running')
    expect(next.replicas[0]!.vmUuid).not.toBe(String(r.uuid))
  })

  it('replicates in full (disaster recovery), keeping the number of replica VMs retention allows', async () => {
    const sameSr = [{ poolId: 'a', xapi: env.xa, srUuid: srUuidOf(env.a) }]
    const made: string[] = []
    for (let run = 1; run <= 3; run++) {
      await env.a.guest.writeRandomBlocks(env.disks[1]!, 2)
      const result = await replicate({ mode: 'full', jobId: 'job-dr' }, sameSr)
      expect(result.full).toBe(true)
      const vm = byUuid(result.replicas[0]!.vmUuid, env.a)
      await expectReplicaEqualsSource(env.a, env.a, vm)
      expect(env.a.state.db.get('VM', vm).tags).toContain('Disaster Recovery')
      made.push(result.replicas[0]!.vmUuid)
    }
    const dr = env.a.state.db.find(
      'VM',
      (r) => (r.other_config as Record<string, string>)['xo:backup:job'] === 'job-dr',
    )
    expect(dr.map(([, r]) => String(r.uuid)).sort()).toEqual(made.slice(1).sort())
    expect(dr.every(([, r]) => r.is_a_snapshot !== true)).toBe(true)
  })
})
