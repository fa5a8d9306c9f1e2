import { cleanLeftovers, collectGarbage, type GcResult, type LeftoverResult } from '@strata/core/repository'
import type { Command } from '../command.js'
import { formatBytes, openRepository, repoOption } from './repo-common.js'

const DURATION = /^(\d+)(ms|s|m|h|d)?$/
const MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

type RepoGcResult = GcResult & { dryRun: boolean; leftovers: LeftoverResult }

export const repoGc: Command<RepoGcResult> = {
  path: ['repo', 'gc'],
  usage: 'repo gc --repo PATH|URL [--margin 1h] [--dry-run] [--purge-quarantine]',
  summary:
    'Delete chunks no restore point or running backup needs, and leftovers of killed writers (no lock; ' +
    'younger than --margin are kept; --dry-run lists; --purge-quarantine also deletes chunks verify moved aside)',
  positionals: 0,
  options: {
    ...repoOption,
    margin: { type: 'string' },
    'dry-run': { type: 'boolean' },
    'purge-quarantine': { type: 'boolean' },
  },
  async run(args, { signal }) {
    const repo = await openRepository(args, signal)
    let safetyMarginMs: number | undefined
    if (typeof args.values.margin === 'string') {
      const m = DURATION.exec(args.values.margin)
      if (m === null) throw new Error(`--margin: '${args.values.margin}' is not a duration like 30m or 1h`)
      safetyMarginMs = Number(m[1]) * MS[m[2] ?? 's']!
    }
    const dryRun = args.values['dry-run'] === true
    const purgeQuarantine = args.values['purge-quarantine'] === true
    const result = await collectGarbage(repo, { safetyMarginMs, dryRun, purgeQuarantine, signal })
    // Temp files and unfinished uploads as old as the margin cannot be puts still in flight.
    const leftovers = await cleanLeftovers(repo, { olderThanMs: safetyMarginMs, dryRun, signal })
    return { dryRun, ...result, leftovers }
  },
  format: (r) =>
    `${r.dryRun ? 'would delete' : 'deleted'} ${r.chunksDeleted} of ${r.chunks} chunks (${formatBytes(r.bytesDeleted)}); ` +
    `${r.keptYoung} unreferenced but young chunks kept; ` +
    (r.keptLocked > 0 ? `${r.keptLocked} kept under Object Lock retention; ` : '') +
    `marked ${r.idsMarked} ids from ${r.indexesMarked} indexes of ${r.points} points ` +
    `in ${formatBytes(r.markBytes)}; ${r.liveSessions} running backups${r.stoppedAtDeadline ? '; stopped at its deadline' : ''}` +
    formatQuarantine(r) +
    formatCold(r) +
    formatLeftovers(r),
}

function formatCold({ dryRun, cold }: RepoGcResult): string {
  if (cold === undefined) return ''
  return (
    `\ncold tier: ${dryRun ? 'would delete' : 'deleted'} ${cold.chunksDeleted} of ${cold.chunks} chunks ` +
    `(${formatBytes(cold.bytesDeleted)}), ${cold.keptYoung} young kept, ${cold.locatorsDeleted} locators removed`
  )
}

function formatQuarantine({ dryRun, quarantinePurged }: RepoGcResult): string {
  return quarantinePurged > 0
    ? `; ${quarantinePurged} quarantined chunks ${dryRun ? 'would be ' : ''}purged`
    : ''
}

function formatLeftovers({ dryRun, leftovers: l }: RepoGcResult): string {
  if (!dryRun) return `\nremoved ${l.count} leftovers of interrupted writes`
  const more = l.count > l.names.length ? `\n  … and ${l.count - l.names.length} more` : ''
  const list = l.names.map((name) => `\n  ${name}`).join('')
  return `\nwould remove ${l.count} leftovers of interrupted writes (${formatBytes(l.bytes)})${list}${more}`
}
