import { describe, expect, it } from 'vitest'
import { jsonPath, jsonPointer, nearest } from './problems.js'

describe('paths', () => {
  it.each([
    ['/schedules/0/cron', 'schedules[0].cron'],
    ['/vms/smart/excludeVms/12', 'vms.smart.excludeVms[12]'],
    ['/settings/odd key', 'settings["odd key"]'],
    ['/a~1b/c', '["a/b"].c'],
    ['', ''],
  ])('%s is %s, and back', (pointer, path) => {
    expect(jsonPath(pointer)).toBe(path)
    expect(jsonPointer(path)).toBe(pointer)
  })
})

describe('nearest', () => {
  it('names the likely intent of a misspelt field, and nothing far off', () => {
    expect(nearest('vm', ['id', 'vms', 'pools'])).toBe('vms')
    expect(nearest('retires', ['retries', 'timeout'])).toBe('retries')
    expect(nearest('Keeplast', ['keepLast', 'daily'])).toBe('keepLast')
    expect(nearest('compression', ['mode', 'retries', 'timeout'])).toBeUndefined()
  })
})
