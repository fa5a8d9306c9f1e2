// Errors of the cold tier (tier.ts, tier-move.ts): stable codes, messages naming the repository and store.
import { StrataError, type StrataErrorOptions } from '../shared/index.js'

export type TierErrorCode =
  /** `tier add` on a repository that has a cold tier already. */
  | 'TIER_EXISTS'
  /** A command that needs the cold tier on a repository without one. */
  | 'NO_TIER'
  /** A chunk is in the cold tier only, and the cold store could not be opened. */
  | 'TIER_UNAVAILABLE'
  /** The cold location is the repository itself, another repository, or another repository's cold tier. */
  | 'TIER_IN_USE'
  /** A copy in the cold tier did not read back and authenticate: the hot copy is kept. */
  | 'TIER_VERIFY_FAILED'

export class TierError extends StrataError {
  declare readonly code: TierErrorCode
  constructor(code: TierErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}
