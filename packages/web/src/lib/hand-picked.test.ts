import { describe, expect, it } from 'vitest'
import { isPicked, missingEntries, togglePicked } from './hand-picked'

const web = { uuid: 'u-web', name_label: 'web-01' }
const db = { uuid: 'u-db', name_label: 'db-01' }

describe('VMs chosen by hand, as a job stores them (uuids, or names from a job file)', () => {
  it('finds a VM named by its uuid or by its name', () => {
    expect(isPicked(['u-web'], web)).toBe(true)
    expect(isPicked(['db-01'], db)).toBe(true)
    expect(isPicked(['db-01'], web)).toBe(false)
  })

  it('lists the entries that name no VM of the connected pools', () => {
    expect(missingEntries(['u-web', 'db-01', 'u-gone', 'old-name'], [web, db])).toEqual([
      'u-gone',
      'old-name',
    ])
  })

  it('adds a VM by its uuid once, and removes it however it was named', () => {
    expect(togglePicked(['db-01'], db, true)).toEqual(['db-01'])
    expect(togglePicked(['db-01'], web, true)).toEqual(['db-01', 'u-web'])
    expect(togglePicked(['db-01', 'u-db', 'u-web'], db, false)).toEqual(['u-web'])
  })
})
