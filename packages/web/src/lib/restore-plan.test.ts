import { describe, expect, it } from 'vitest'
import { restoredVmName, restoreTag } from './restore-plan'

describe('restore plan', () => {
  it("names the new VM after the source and the point's date in UTC, as the server does", () => {
    expect(restoredVmName('web-01', Date.UTC(2026, 11, 7, 2, 0, 59, 123))).toBe(
      'web-01 (restored 2026-12-07 02:00)',
    )
  })

  it('says which tag the VM gets: the setting, the default, or none', () => {
    expect(restoreTag(undefined)).toBe('restored from backup')
    expect(restoreTag({})).toBe('restored from backup')
    expect(restoreTag({ restoreTag: 'from-strata' })).toBe('from-strata')
    expect(restoreTag({ restoreTag: '' })).toBeUndefined()
  })
})
