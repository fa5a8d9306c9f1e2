// The config seal's MAC: HMAC-SHA-256 under a subkey of the master key over the canonical config and the
// trusted key slots' fingerprints (format/seal.ts). Only a holder of the master key can make one.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import type { RepositoryConfig } from '../format/config.js'
import { HKDF_INFO_SEAL_KEY } from '../format/constants.js'
import { canonicalSealInput, type ConfigSeal } from '../format/seal.js'

export function sealKey(master: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', master, new Uint8Array(0), HKDF_INFO_SEAL_KEY, 32))
}

export function makeSeal(key: Uint8Array, config: RepositoryConfig, slots: readonly string[]): ConfigSeal {
  const sorted = [...new Set(slots)].sort()
  const mac = createHmac('sha256', key).update(canonicalSealInput(config, sorted)).digest()
  return { slots: sorted, mac }
}

/** True when `seal` was made with `key` for exactly this config and these slots. */
export function sealMatches(key: Uint8Array, config: RepositoryConfig, seal: ConfigSeal): boolean {
  const expected = makeSeal(key, config, seal.slots).mac
  return seal.mac.length === expected.length && timingSafeEqual(seal.mac, expected)
}
