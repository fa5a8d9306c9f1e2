// The XAPI calls of a delta replication run against two lab pools: the target's VMs and VDIs are scanned
// (get_all_records) no more often than the run needs (the replicas before the copy, the restore points
// for retention after it), the source's memory image is asked once for every target, and independent calls go out
// together rather than one after the other (the replica VM is made while the disks' data crosses). A
// replica still ends byte-identical to its source snapshot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { replicateVm, type VmReplicationSettings } from '../../src/engine/replication/index.js'
import type { XapiClient } from '../../src/xapi/index.js'
import { expectReplicaEqualsSource, srUuidOf, startTwoPools, type TwoPools } from './replication-fixture.js'

/**
 * Counts a client's calls by method, how many started while another of its calls was in flight, and
 * which overlapped ("A while B": a call of A started while one of B was in flight).
 */
function watch(xapi: XapiClient): {
  counts: Map<string, number>
  overlapped: () => number
  pairs: Set<string>
  order: string[]
} {
  const counts = new Map<string, number>()
  const order: string[] = []
  const inFlight: string[] = []
  const pairs = new Set<string>()
  let overlapped = 0
  const call = xapi.call.bind(xapi)
  xapi.call = async <T>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> => {
    counts.set(method, (counts.get(method) ?? 0) + 1)
    order.push(method)
    if (inFlight.length > 0) overlapped++
    for (const other of inFlight) pairs.add(`${method} while ${other}`)
    inFlight.push(method)
    try {
      return await call<T>(method, params, signal)
    } finally {
      inFlight.splice(inFlight.indexOf(method), 1)
    }
  }
  return { counts, pairs, order, overlapped: () => overlapped }
}

describe('the XAPI calls of a delta replication', () => {
  let env: TwoPools
  const settings = (): VmReplicationSettings => ({
    runId: `run-${Math.random().toString(16).slice(2)}`,
    jobId: 'job-calls',
    jobName: 'calls',
    scheduleId: 'sched-1',
    mode: 'delta',
    changedBlocks: 'auto',
    preferNbd: true,
    retention: { policy: { keepLast: 2 }, timeZone: 'UTC' },
  })

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startTwoPools([16, 8])
  })
  afterAll(async () => {
    await env?.close()
  })

  it('scans the target once before the copy and once for retention, sending independent calls together', async () => {
    const targets = () => [{ poolId: 'b', xapi: env.xb, srUuid: srUuidOf(env.b) }]
    const run = () => replicateVm(silentTask(), env.xa, env.limits, env.vmUuid, targets(), settings())
    await run()
    await env.a.guest.write(env.disks[0]!, 4 * 1024 * 1024, Buffer.alloc(65536, 7))
    const source = watch(env.xa)
    const target = watch(env.xb)
    const delta = await run()
    expect(delta.full).toBe(false)
    const uuid = delta.replicas[0]!.pointUuid
    expect(uuid).toBeDefined()
    await expectReplicaEqualsSource(env.a, env.b, env.b.state.db.find('VM', (r) => r.uuid === uuid)[0]![0])

    expect(target.counts.get('VM.get_all_records')).toBe(2)
    expect(target.counts.get('VDI.get_all_records')).toBe(1)
    // Asked once for every target, beside the metadata, not again per target and after them.
    expect(source.counts.get('VM.get_suspend_VDI')).toBeLessThanOrEqual(2)
    expect(target.overlapped()).toBeGreaterThanOrEqual(4)
    // The replica's network interface is made while its disks are attached.
    expect([...target.pairs].some((p) => /^(network|VIF)\..* while VBD\.create$/.test(p))).toBe(true)
    // The replica VM (no memory: its disks are not attached) is made while the disks' data crosses, not
    // after: before the first import's task is destroyed.
    const created = target.order.indexOf('VM.create')
    const imported = target.order.indexOf('task.destroy')
    expect(created).toBeGreaterThanOrEqual(0)
    expect(imported).toBeGreaterThan(created)
  })
})
