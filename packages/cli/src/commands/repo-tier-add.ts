// `strata repo tier add --repo REPO --cold LOCATION --older-than 30d`: gives the repository a cold tier,
// another object store (S3 bucket/prefix, local path) where `repo tier move` puts the chunks that only
// points older than the policy reference. The record is authenticated like the config (encrypted
// repositories); the cold store's credentials come from the same variables as the repository's own.
import { addTier } from '@strata/core/repository'
import { openStore } from '@strata/core/storage'
import { UsageError, type Command } from '../command.js'
import { str } from './backup-common.js'
import { openRepository, repoOption } from './repo-common.js'
import { formatSeconds, parseDurationSeconds } from './repo-tier-common.js'

interface TierAddResult {
  readonly repository: string
  readonly cold: string
  readonly olderThanSeconds: number
}

export const repoTierAdd: Command<TierAddResult> = {
  path: ['repo', 'tier', 'add'],
  usage: 'repo tier add --repo PATH|URL --cold PATH|URL --older-than 30d',
  summary:
    'Give a repository a cold tier: chunks only restore points older than --older-than reference move there (repo tier move)',
  positionals: 0,
  options: { ...repoOption, cold: { type: 'string' }, 'older-than': { type: 'string' } },
  async run(args, { signal }) {
    const cold = str(args.values.cold)
    if (cold === undefined) throw new UsageError('--cold PATH|s3://… is required')
    const olderThanSeconds = parseDurationSeconds(args.values['older-than'], '--older-than')
    const repo = await openRepository(args, signal)
    const store = await openStore(cold, process.env, { signal })
    try {
      await addTier(repo, { cold, olderThanSeconds }, store, signal)
    } finally {
      await store.close?.()
    }
    return { repository: repo.name, cold: store.name, olderThanSeconds }
  },
  format: (r) =>
    `cold tier of ${r.repository}: ${r.cold}, for chunks only points older than ${formatSeconds(r.olderThanSeconds)} reference`,
}
