import { describe, expect, it } from 'vitest'
import { LabOptionError } from './lab-errors.js'
import { parseDiskSize } from './seed-many.js'

describe('many-VM seeds', () => {
  it('reads disk sizes and refuses nonsense', () => {
    expect(parseDiskSize('64MiB')).toBe(64 * 1024 * 1024)
    expect(parseDiskSize('2G')).toBe(2 * 1024 ** 3)
    expect(parseDiskSize('128 KiB')).toBe(128 * 1024)
    expect(parseDiskSize(1024 * 1024)).toBe(1024 * 1024)
    for (const bad of ['', '64XB', '-1M', '1K', 65537, 1.5])
      expect(() => parseDiskSize(bad)).toThrow(LabOptionError)
  })
})
