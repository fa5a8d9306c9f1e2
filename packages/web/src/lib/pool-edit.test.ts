import { describe, expect, it } from 'vitest'
import type { Pool } from '@strata/contract'
import { editOf, editProblem, poolPatch } from './pool-edit'

const pool: Pool = {
  id: 'p1',
  name: 'lab',
  url: 'https://old.example',
  username: 'root',
  insecureHttp: false,
  connected: false,
}

describe('the pool editor', () => {
  it('sends only what changed', () => {
    expect(poolPatch(pool, { ...editOf(pool), password: 'new secret' })).toEqual({ password: 'new secret' })
    expect(poolPatch(pool, { ...editOf(pool), username: ' admin ', fingerprint: ' AA:BB ' })).toEqual({
      username: 'admin',
      fingerprint: 'AA:BB',
    })
    expect(poolPatch(pool, { ...editOf(pool), url: 'https://new.example', password: 'p' })).toEqual({
      url: 'https://new.example',
      password: 'p',
    })
  })

  it('says a new URL needs the password, and that nothing changed', () => {
    expect(editProblem(pool, { ...editOf(pool), url: 'https://new.example' })).toMatch(/password again/)
    expect(editProblem(pool, editOf(pool))).toBe('Nothing changed.')
    expect(editProblem(pool, { ...editOf(pool), password: 'x' })).toBeUndefined()
  })
})
