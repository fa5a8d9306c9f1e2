// What each server profile offers. 'xapi' reproduces xapi-nbd exactly (reference/xapi.md §5.2) so that
// clients tested against the lab meet XAPI's limits; 'full' is a complete modern server.
import { FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES, TFlag } from '../codec/constants.js'

export type NbdProfileName = 'xapi' | 'full'

export interface Profile {
  readonly name: NbdProfileName
  readonly handshakeFlags: number
  readonly maxConnections: number
  /** NBD_OPT_GO/INFO, structured replies, metadata contexts, NBD_OPT_LIST. */
  readonly modern: boolean
  /** Offsets and lengths must be multiples of this (EINVAL otherwise). */
  readonly alignment: number
  readonly maxRequest: number
}

export const PROFILES: Record<NbdProfileName, Profile> = {
  xapi: {
    name: 'xapi',
    handshakeFlags: FLAG_FIXED_NEWSTYLE, // NO_ZEROES is never offered
    maxConnections: 16,
    modern: false,
    alignment: 512,
    maxRequest: 32 * 1024 * 1024,
  },
  full: {
    name: 'full',
    handshakeFlags: FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES,
    maxConnections: 64,
    modern: true,
    alignment: 1,
    maxRequest: 32 * 1024 * 1024,
  },
}

export function transmissionFlags(profile: Profile, writable: boolean): number {
  if (!profile.modern) return TFlag.HAS_FLAGS | TFlag.READ_ONLY // 0x0003, as xapi-nbd sends
  const common = TFlag.HAS_FLAGS | TFlag.CAN_MULTI_CONN | TFlag.SEND_CACHE
  return writable ? common | TFlag.SEND_FLUSH | TFlag.SEND_FUA : common | TFlag.READ_ONLY
}
