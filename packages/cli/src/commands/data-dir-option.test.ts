import { describe, expect, it } from 'vitest'
import { UsageError } from '../command.js'
import { dataDirArg } from './data-dir-option.js'

describe('--data-dir', () => {
  const args = (values: Record<string, string>) => ({ positionals: [], values })

  it('is the name, and the old --data is accepted with a warning', () => {
    const warnings: string[] = []
    const warn = (line: string) => warnings.push(line)
    expect(dataDirArg(args({ 'data-dir': '/srv/a' }), warn)).toBe('/srv/a')
    expect(warnings).toEqual([])
    expect(dataDirArg(args({ data: '/srv/b' }), warn)).toBe('/srv/b')
    expect(warnings).toEqual([
      '--data is deprecated: use --data-dir (the old name is accepted until the next release)',
    ])
    expect(dataDirArg(args({}), warn)).toBeUndefined()
  })

  it('refuses both spellings at once', () => {
    expect(() => dataDirArg(args({ 'data-dir': '/a', data: '/b' }), () => undefined)).toThrow(UsageError)
  })
})
