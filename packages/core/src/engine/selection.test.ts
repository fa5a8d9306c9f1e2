import { describe, expect, it } from 'vitest'
import type { XapiRecord } from '../xapi/index.js'
import { selectVms, type PoolVms } from './selection.js'

function pool(poolId: string, vms: XapiRecord[]): PoolVms {
  const table = new Map(vms.map((r, i) => [`OpaqueRef:${poolId}-${i}`, r]))
  return { poolId, cache: { all: () => table } }
}

const vm = (name: string, extra: XapiRecord = {}): XapiRecord => ({
  uuid: `uuid-${name}`,
  name_label: name,
  power_state: 'Running',
  tags: [],
  is_a_template: false,
  is_a_snapshot: false,
  is_control_domain: false,
  ...extra,
})

const pools = [
  pool('a', [
    vm('web-01', { tags: ['prod', 'web'] }),
    vm('db-01', { tags: ['prod'], power_state: 'Halted' }),
    vm('tmp-01', { tags: ['prod', 'scratch'] }),
    vm('quiet-01', { tags: ['prod', 'strata:no-bak=test VM'] }),
    vm('web-01 snapshot', { is_a_snapshot: true, tags: ['prod'] }),
    vm('tpl', { is_a_template: true, tags: ['prod'] }),
    vm('dom0', { is_control_domain: true }),
  ]),
  pool('b', [vm('web-02', { tags: ['web'] }), vm('dup'), vm('dup', { uuid: 'uuid-dup-2' })]),
]

const smart = { kind: 'smart' as const, pools: [], tags: [], excludeVms: [], excludeTags: [] }
const names = (s: ReturnType<typeof selectVms>) => s.vms.map((v) => v.name)

describe('selectVms', () => {
  it('selects by tag across pools, never templates, snapshots or dom0, never no-bak VMs', () => {
    expect(names(selectVms({ ...smart, tags: ['prod'] }, pools))).toEqual(['db-01', 'tmp-01', 'web-01'])
    expect(names(selectVms({ ...smart, tags: ['web'] }, pools))).toEqual(['web-01', 'web-02'])
  })

  it('filters by pool and power state, and excludes by VM and by tag', () => {
    expect(names(selectVms({ ...smart, pools: ['a'], powerState: 'Running' }, pools))).toEqual([
      'tmp-01',
      'web-01',
    ])
    const s = selectVms(
      { ...smart, tags: ['prod'], excludeVms: ['uuid-db-01'], excludeTags: ['scratch'] },
      pools,
    )
    expect(names(s)).toEqual(['web-01'])
    expect(s.vms[0]).toEqual({ poolId: 'a', uuid: 'uuid-web-01', name: 'web-01' })
  })

  it('resolves an explicit list by uuid or name and reports what it cannot resolve', () => {
    const s = selectVms({ kind: 'explicit', vms: ['uuid-web-02', 'db-01', 'nope', 'dup', 'db-01'] }, pools)
    expect(names(s)).toEqual(['web-02', 'db-01'])
    expect(s.problems).toEqual([
      { vm: 'nope', reason: "no VM 'nope' on the job's pools" },
      { vm: 'dup', reason: "2 VMs are named 'dup'" },
    ])
  })

  it('leaves VMs made by a restore out of smart selections unless the job asks for them', () => {
    const restored = [
      pool('r', [
        vm('web-01', { tags: ['prod'] }),
        vm('web-01 (restored 2026-12-07 02:00)', { uuid: 'uuid-r', tags: ['prod', 'restored from backup'] }),
        vm('web-01 (copy)', { uuid: 'uuid-c', tags: ['prod', 'from backup'] }),
      ]),
    ]
    expect(names(selectVms({ ...smart, tags: ['prod'] }, restored))).toEqual(['web-01', 'web-01 (copy)'])
    expect(names(selectVms({ ...smart, tags: ['prod'], includeRestored: true }, restored))).toHaveLength(3)
    expect(names(selectVms({ ...smart, restoredTag: 'from backup' }, restored))).toEqual([
      'web-01',
      'web-01 (restored 2026-12-07 02:00)',
    ])
  })
})
