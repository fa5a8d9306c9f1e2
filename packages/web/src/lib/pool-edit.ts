// What the pool editor sends: only what the admin changed. A new URL goes with the password (the server
// refuses it otherwise: the stored password is only ever sent to the host it was given for).
import type { Pool, PoolPatch } from '@strata/contract'

export interface PoolEdit {
  url: string
  username: string
  password: string
  fingerprint: string
}

export const editOf = (pool: Pool): PoolEdit => ({
  url: pool.url,
  username: pool.username,
  password: '',
  fingerprint: '',
})

export function poolPatch(pool: Pool, edit: PoolEdit): PoolPatch {
  const url = edit.url.trim()
  const patch: PoolPatch = {}
  if (url !== pool.url) patch.url = url
  if (edit.username.trim() !== pool.username) patch.username = edit.username.trim()
  if (edit.password !== '') patch.password = edit.password
  if (edit.fingerprint.trim() !== '') patch.fingerprint = edit.fingerprint.trim()
  return patch
}

/** Said before sending: a new URL without the password is refused anyway. */
export function editProblem(pool: Pool, edit: PoolEdit): string | undefined {
  const patch = poolPatch(pool, edit)
  if (patch.url !== undefined && patch.password === undefined)
    return `A new URL needs the pool's password again: the stored one is only sent to ${pool.url}.`
  return Object.keys(patch).length === 0 ? 'Nothing changed.' : undefined
}
