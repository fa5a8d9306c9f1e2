import { describe, expect, it } from 'vitest'
import type { RunSummary } from '@strata/contract'
import { matchesFilter, runQuery } from './run-filter'

const run: RunSummary = {
  runId: 'r1',
  jobId: 'j1',
  status: 'failure',
  start: Date.UTC(2026, 11, 7, 2),
  warnings: 0,
}

describe('the logs filter', () => {
  it('asks the API only for what is set', () => {
    expect(runQuery({ job: '', state: '', since: '' })).toEqual({})
    expect(runQuery({ job: 'j1', state: 'failure', since: '2026-12-07' })).toEqual({
      job: 'j1',
      state: 'failure',
      since: '2026-12-07',
    })
  })

  it('keeps a live run only when it matches, the date read in UTC', () => {
    expect(matchesFilter(run, { job: 'j1', state: 'failure', since: '2026-12-07' })).toBe(true)
    expect(matchesFilter(run, { job: 'j2', state: '', since: '' })).toBe(false)
    expect(matchesFilter(run, { job: '', state: 'success', since: '' })).toBe(false)
    expect(matchesFilter(run, { job: '', state: '', since: '2026-12-08' })).toBe(false)
  })
})
