// What a server or a job records of a repository at first use, and compares at every later open: its
// id, whether it is encrypted, the fingerprint of its whole config, and whether it was sealed. This is
// what answers the attacks a key cannot: a config edited to "encryption":"none" (a plain repository has
// no key to seal with) and a seal removed so that an edited config would be sealed again.
import type { RepositoryConfig } from './format/config.js'
import { configFingerprint } from './format/seal.js'
import { configChanged } from './key-ring.js'

export interface RepositoryIdentity {
  readonly id: string
  readonly encryption: RepositoryConfig['encryption']
  /** Hex SHA-256 of the canonical config (format/seal.ts). */
  readonly fingerprint: string
  /** An encrypted repository whose config seal was checked (never true for a plain one). */
  readonly sealed: boolean
}

export function identityOf(config: RepositoryConfig, sealed: boolean): RepositoryIdentity {
  return { id: config.id, encryption: config.encryption, fingerprint: configFingerprint(config), sealed }
}

/** Refuses a config that differs from what was recorded (before any key is derived). */
export function checkConfigAgainst(
  repository: string,
  config: RepositoryConfig,
  recorded: RepositoryIdentity,
): void {
  const now = identityOf(config, recorded.sealed)
  const why =
    now.id !== recorded.id
      ? `its id is ${now.id}, ${recorded.id} was recorded`
      : now.encryption !== recorded.encryption
        ? `its config says encryption '${now.encryption}', '${recorded.encryption}' was recorded`
        : now.fingerprint !== recorded.fingerprint
          ? `its config's fingerprint is ${now.fingerprint.slice(0, 16)}…, ${recorded.fingerprint.slice(0, 16)}… was recorded`
          : undefined
  if (why !== undefined) throw configChanged(repository, why, { recorded, found: now })
}

/** Refuses a repository recorded as sealed whose seal is gone (a downgrade to an unchecked config). */
export function checkSealAgainst(repository: string, sealed: boolean, recorded: RepositoryIdentity): void {
  if (recorded.sealed && !sealed)
    throw configChanged(repository, 'its config seal was removed; it was recorded as sealed')
}

/** Validates an identity read back from a database or a state file (anything else is not trusted). */
export function parseIdentity(value: unknown): RepositoryIdentity | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  if (
    typeof v.id !== 'string' ||
    (v.encryption !== 'none' && v.encryption !== 'aes-256-gcm') ||
    typeof v.fingerprint !== 'string' ||
    !/^[0-9a-f]{64}$/.test(v.fingerprint) ||
    typeof v.sealed !== 'boolean'
  )
    return undefined
  return { id: v.id, encryption: v.encryption, fingerprint: v.fingerprint, sealed: v.sealed }
}
