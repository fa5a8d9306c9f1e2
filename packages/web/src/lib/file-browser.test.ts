import { describe, expect, it } from 'vitest'
import { breadcrumb, isSelected, parentOf, toggle } from './file-browser'

describe('file browser', () => {
  it('makes a breadcrumb and finds a parent', () => {
    expect(breadcrumb('/')).toEqual([{ name: '/', path: '/' }])
    expect(breadcrumb('/etc/ssh').map((c) => c.path)).toEqual(['/', '/etc', '/etc/ssh'])
    expect(parentOf('/etc/ssh')).toBe('/etc')
    expect(parentOf('/etc')).toBe('/')
  })

  it('keeps a folder instead of what it holds, and never a name that only shares a prefix', () => {
    let s = toggle([], '/etc/hostname')
    s = toggle(s, '/etc-old')
    expect(s).toEqual(['/etc/hostname', '/etc-old'])
    s = toggle(s, '/etc')
    expect(s).toEqual(['/etc-old', '/etc'])
    expect(toggle(s, '/etc/passwd')).toEqual(s) // inside a chosen folder already
    expect(isSelected(s, '/etc/passwd')).toBe(true)
    expect(isSelected(s, '/etcetera')).toBe(false)
    expect(toggle(s, '/etc')).toEqual(['/etc-old'])
  })
})
