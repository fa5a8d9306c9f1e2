// `strata repo tier move --repo REPO`: moves the chunks that only points older than the policy reference
// to the cold tier (copy, read back and authenticate, locator, delete from hot), and copies back to hot
// those that young points reference again. Killed at any moment, it leaves every point restorable; a
// rerun finishes what it started (docs/repository-format.md, "Cold tier").
import { moveToCold, TierError, type TierMoveResult } from '@strata/core/repository'
import type { Command } from '../command.js'
import { formatBytes, openRepository, repoOption } from './repo-common.js'
import { parseDurationSeconds } from './repo-tier-common.js'

export const repoTierMove: Command<TierMoveResult> = {
  path: ['repo', 'tier', 'move'],
  usage: 'repo tier move --repo PATH|URL [--margin 1h]',
  summary:
    'Move chunks only old restore points reference to the cold tier (chunks written within --margin stay hot)',
  positionals: 0,
  options: { ...repoOption, margin: { type: 'string' } },
  async run(args, { signal, stderr }) {
    const margin = args.values.margin
    const safetyMarginMs = margin === undefined ? undefined : parseDurationSeconds(margin, '--margin') * 1000
    const repo = await openRepository(args, signal)
    const result = await moveToCold(repo, { safetyMarginMs, signal })
    if (result.failed.length === 0) return result
    for (const f of result.failed) stderr.write(`chunk ${f.id}: ${f.reason}\n`)
    // Nothing is lost (their hot copies stay), but a cold store that does not keep bytes must be seen.
    throw new TierError(
      'TIER_VERIFY_FAILED',
      `${result.failed.length} chunks did not authenticate in the cold tier of '${repo.name}' and stay hot; ` +
        `moved ${result.moved}`,
      { details: { ...result } },
    )
  },
  format: (r) =>
    `moved ${r.moved} chunks (${formatBytes(r.bytesMoved)}) to the cold tier; ${r.keptHot} kept hot; ` +
    `${r.promoted} copied back to hot; ${r.oldPoints} of ${r.points} restore points are old` +
    (r.keptLocked > 0 ? `; ${r.keptLocked} hot copies kept under Object Lock retention` : '') +
    (r.failed.length > 0 ? `; ${r.failed.length} failed verification (kept hot)` : ''),
}
