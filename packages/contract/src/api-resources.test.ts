// The repository schemas carry what repository hardening added to the API: force (a short passphrase
// kept on purpose), acceptConfig (a re-created repository accepted) and the recorded identity.
import { describe, expect, it } from 'vitest'
import { Repository, RepositoryInput, RepositoryPatch } from './api-resources.js'
import { formatProblem, schemaProblems } from './problems.js'
import type { TSchema } from '@sinclair/typebox'

const problems = (schema: TSchema, value: unknown) => schemaProblems(schema, value).map(formatProblem)
const identity = { id: 'a1', encryption: 'aes-256-gcm', fingerprint: 'f'.repeat(64), sealed: true }

describe('repository schemas', () => {
  it('take force when a repository is added, and init', () => {
    const body = { name: 'nas', location: '/srv/repo', passphrase: 'short', init: true, force: true }
    expect(problems(RepositoryInput, body)).toEqual([])
    expect(problems(RepositoryInput, { ...body, force: 'yes' })).toEqual([expect.stringMatching(/^force/)])
  })

  it('take acceptConfig and force when one is saved, never init', () => {
    expect(problems(RepositoryPatch, { acceptConfig: true })).toEqual([])
    expect(problems(RepositoryPatch, { passphrase: 'short', force: true })).toEqual([])
    expect(problems(RepositoryPatch, { init: true })).toEqual([expect.stringMatching(/init/)])
  })

  it('describe the identity the server recorded', () => {
    const record = {
      id: 'r1',
      name: 'nas',
      location: '/srv/repo',
      encrypted: true,
      identity,
      usage: null,
      measuring: true,
    }
    expect(problems(Repository, record)).toEqual([])
    expect(problems(Repository, { ...record, identity: { ...identity, encryption: 'rot13' } })).not.toEqual(
      [],
    )
  })
})
