// The cold tier of a repository (object 'tier', an optional addition to format version 1): where chunks
// that only old restore points reference are moved, and the policy that says which points are old.
// In an encrypted repository it carries a MAC under a subkey of the master key, so that nobody without
// the key can point the repository's reads or moves at another store.
import { RepositoryError } from '../errors.js'
import { MAX_IMMUTABLE_SECONDS } from './config.js'
import { JsonReader, encodeJson } from './json.js'

export const KEY_TIER = 'tier'
/** Per-chunk locators in the hot store: `tiered/<hh>/<id>` says a verified copy is in the cold tier. */
export const PREFIX_TIERED = 'tiered/'
/** In the cold store: which repository owns it (two repositories sharing one would collect each other's). */
export const KEY_COLD_OWNER = 'cold-tier'
export const HKDF_INFO_TIER_KEY = 'strata/v1/tier-key'
export const CANONICAL_TIER_LABEL = 'strata/v1/tier'
/** A tier record is a few hundred bytes: a larger object is not one. */
export const MAX_TIER_BYTES = 16 * 1024
/** A location longer than this is not one anybody typed. */
export const MAX_COLD_LOCATION = 2048

export interface TierConfig {
  /** The cold store's location (storage/location.ts forms); its credentials are never in it. */
  readonly cold: string
  /** Points older than this (by their id's time) are old: chunks only they reference move to cold. */
  readonly olderThanSeconds: number
  readonly added: string
}

export function tieredKey(idHex: string): string {
  return `${PREFIX_TIERED}${idHex.slice(0, 2)}/${idHex}`
}

const HEX64 = /^[0-9a-f]{64}$/

export function idOfTieredKey(key: string): string | undefined {
  const id = key.slice(key.lastIndexOf('/') + 1)
  return HEX64.test(id) && key === tieredKey(id) ? id : undefined
}

export function checkTierConfig(tier: TierConfig, what: string): TierConfig {
  const { cold, olderThanSeconds } = tier
  if (cold === '' || cold.length > MAX_COLD_LOCATION || [...cold].some((c) => c < ' '))
    throw new RepositoryError('INVALID_ARGUMENT', `${what}: cold location is empty, too long or not text`)
  if (!Number.isInteger(olderThanSeconds) || olderThanSeconds < 1 || olderThanSeconds > MAX_IMMUTABLE_SECONDS)
    throw new RepositoryError(
      'INVALID_ARGUMENT',
      `${what}: older-than ${olderThanSeconds} s is out of bounds`,
    )
  return tier
}

/** The bytes the MAC covers: the repository's id binds the record to this repository. */
export function canonicalTierInput(repositoryId: string, tier: TierConfig): Uint8Array {
  const fields = [CANONICAL_TIER_LABEL, repositoryId, tier.cold, tier.olderThanSeconds, tier.added]
  return new TextEncoder().encode(JSON.stringify(fields))
}

export function encodeTier(tier: TierConfig, mac: Uint8Array | undefined): Uint8Array {
  return encodeJson({
    version: 1,
    cold: tier.cold,
    olderThanSeconds: tier.olderThanSeconds,
    added: tier.added,
    ...(mac && { mac: Buffer.from(mac).toString('hex') }),
  })
}

export function decodeTier(bytes: Uint8Array, what: string): { tier: TierConfig; mac?: Buffer } {
  const r = JsonReader.parse(bytes, what)
  const version = r.integer('version')
  if (version !== 1)
    throw new RepositoryError('UNSUPPORTED_VERSION', `${what} has version ${version}; this Strata reads 1`)
  const tier = checkTierConfig(
    { cold: r.string('cold'), olderThanSeconds: r.integer('olderThanSeconds'), added: r.string('added') },
    what,
  )
  const mac = r.optionalString('mac')
  if (mac !== undefined && !HEX64.test(mac))
    throw new RepositoryError('CORRUPT_OBJECT', `${what}: field 'mac' is not 64 hex digits`)
  return { tier, ...(mac !== undefined && { mac: Buffer.from(mac, 'hex') }) }
}
