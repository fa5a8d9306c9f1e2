import { describe, expect, it } from 'vitest'
import { isUiPagePath } from './request-path.js'

describe('isUiPagePath', () => {
  it("accepts the UI's own page paths, with a query", () => {
    for (const path of ['/', '/jobs', '/jobs/j-1f2e', '/logs/20260101T000000Z-abcdef', '/login?next=%2Fjobs'])
      expect(isUiPagePath(path), path).toBe(true)
  })

  it('refuses anything that could name the API or is spelt oddly', () => {
    for (const path of [
      '/api',
      '/api/users',
      '/API/users',
      '/Api./users',
      '/api~/users',
      '/%61pi/users',
      '/jobs/%2e%2e/api',
      '//api/users',
      '/jobs//x',
      '/jobs/../api/users',
      '/./api/users',
      'http://host/api/users',
      'http://host/jobs',
      '*',
      '/jobs\\..\\api',
    ])
      expect(isUiPagePath(path), path).toBe(false)
  })
})
