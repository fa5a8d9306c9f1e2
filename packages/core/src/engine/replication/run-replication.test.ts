import { describe, expect, it } from 'vitest'
import type { XapiRecord } from '../../xapi/index.js'
import { splitReplicas } from './run-replication.js'

const pool = (records: XapiRecord[]) => ({
  poolId: 'b',
  cache: { all: () => new Map(records.map((r, i) => [`OpaqueRef:${i}`, r])) } as never,
})

describe('splitReplicas', () => {
  it("sets apart the replicas a smart selection picked on a target pool (Strata's and XO's)", () => {
    const records = [
      { uuid: 'u-web', name_label: 'web', other_config: {} },
      {
        uuid: 'u-mine',
        name_label: 'web - job (2026-12-07 02:00 UTC)',
        other_config: { 'xo:backup:job': 'j', 'xo:backup:vm': 'u-web', 'strata:replica:run': 'r' },
      },
      {
        uuid: 'u-xo',
        name_label: 'db - XO CR',
        other_config: { 'xo:backup:job': 'k', 'xo:backup:vm': 'u-db', 'xo:copy_of': 'vdi' },
      },
    ]
    const vms = records.map((r) => ({ poolId: 'b', uuid: r.uuid, name: r.name_label }))
    const { sources, replicas } = splitReplicas(vms, [pool(records)])
    expect(sources.map((v) => v.uuid)).toEqual(['u-web'])
    expect(replicas.map((v) => v.uuid)).toEqual(['u-mine', 'u-xo'])
  })
})
