import { describe, expect, it } from 'vitest'
import { newestFirst, type ReplicaObject } from './replica-find.js'
import { parseReplicaTime, replicaKeys, replicaName, xoDateTime } from './replica-keys.js'

describe('replica keys', () => {
  it("writes and reads XO's datetime format; an unreadable one is the epoch", () => {
    const date = new Date('2026-12-07T02:03:04.567Z')
    expect(xoDateTime(date)).toBe('20261207T02:03:04Z')
    expect(parseReplicaTime('20261207T02:03:04Z').toISOString()).toBe('2026-12-07T02:03:04.000Z')
    expect(parseReplicaTime('yesterday').getTime()).toBe(0)
  })

  it("recognises Strata's replicas and XO's, not XO's backup snapshots", () => {
    const xo = { 'xo:backup:job': 'j', 'xo:backup:vm': 'v', 'xo:copy_of': 'vdi', 'xo:backup:sr': 'sr' }
    expect(replicaKeys({ other_config: xo })).toMatchObject({ jobId: 'j', vmUuid: 'v', srUuid: 'sr' })
    const snapshot = { 'xo:backup:job': 'j', 'xo:backup:vm': 'v', 'xo:backup:schedule': 's' }
    expect(replicaKeys({ other_config: snapshot })).toBeUndefined()
    const mine = {
      'xo:backup:job': 'j',
      'xo:backup:vm': 'v',
      'strata:replica:run': 'r',
      'strata:replica:mode': 'delta',
      'strata:replica:pending': 'r',
      'strata:replica:memory': 'true',
    }
    expect(replicaKeys({ other_config: mine })).toMatchObject({
      runId: 'r',
      mode: 'delta',
      pending: 'r',
      memory: true,
    })
    expect(replicaKeys({ other_config: { ...mine, 'strata:replica:mode': 'other' } })?.mode).toBeUndefined()
    expect(replicaKeys({})).toBeUndefined()
  })

  it('names a replica after its source, the job and the time (UTC, minutes)', () => {
    expect(replicaName('web-01', 'DR', new Date('2026-12-07T02:03:04Z'))).toBe(
      'web-01 - DR (2026-12-07 02:03 UTC)',
    )
  })

  it('orders two runs in the same second by when they were written, not by their random run ids', () => {
    const point = (run: string, madeAt: string): ReplicaObject => {
      const other_config = {
        'xo:backup:job': 'j',
        'xo:backup:vm': 'v',
        'xo:backup:datetime': '20261207T02:03:04Z',
        'strata:replica:run': run,
        'strata:replica:made-at': madeAt,
      }
      const record = { other_config, is_a_snapshot: true }
      return { ref: `OpaqueRef:${run}`, record, keys: replicaKeys(record)! }
    }
    const older = point('ffff', '2026-12-07T02:03:04.100Z')
    const newer = point('0000', '2026-12-07T02:03:04.900Z')
    expect([older, newer].sort(newestFirst).map((p) => p.ref)).toEqual([newer.ref, older.ref])
    expect([newer, older].sort(newestFirst).map((p) => p.ref)).toEqual([newer.ref, older.ref])
  })
})
