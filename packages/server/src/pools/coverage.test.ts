import { describe, expect, it } from 'vitest'
import { completeJob, type JobInput } from '@strata/contract'
import type { ObjectCache, XapiRecord } from '@strata/core/xapi'
import { computeCoverage } from './coverage.js'

const vm: XapiRecord = {
  uuid: 'vm-1',
  name_label: 'web',
  power_state: 'Running',
  tags: [],
  is_a_template: false,
}
const cache = {
  all: (kind: string) => new Map<string, XapiRecord>(kind === 'vm' ? [['OpaqueRef:vm-1', vm]] : []),
} as unknown as ObjectCache
const job = (input: Partial<JobInput>) =>
  completeJob({ name: 'j', vms: { smart: { pools: [] } }, repositories: ['r'], ...input } as JobInput, {
    id: `job-${input.kind ?? 'backup'}`,
    newScheduleId: () => 's',
  })

describe('coverage', () => {
  it('counts backup jobs, never a metadata job (it backs up pool databases, no VM)', () => {
    const pools = [{ id: 'p', name: 'lab', cache }]
    const only = (kind: 'backup' | 'metadata') =>
      computeCoverage({ pools, jobs: [job({ kind })], restoredTag: 'restored', runs: [] })[0]!.vms[0]
    expect(only('backup')).toMatchObject({ covered: true })
    expect(only('metadata')).toMatchObject({ covered: false, jobs: [] })
  })
})
