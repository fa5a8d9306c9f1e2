// Shared by the `strata repo tier` commands and restores: durations like 30d or 1h, bytes read per tier.
import type { Repository } from '@strata/core/repository'
import { UsageError } from '../command.js'
import { formatBytes } from './repo-common.js'

const DURATION = /^(\d{1,9})(s|m|h|d)$/
const SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** '30d', '12h', '90m', '45s' → seconds; anything else is a usage error naming the flag. */
export function parseDurationSeconds(value: unknown, flag: string): number {
  const m = typeof value === 'string' ? DURATION.exec(value.trim()) : null
  if (m === null)
    throw new UsageError(`${flag}: '${String(value)}' is not a duration such as 30d, 12h or 90m`)
  return Number(m[1]) * SECONDS[m[2]!]!
}

/** The seconds of a policy, in the unit a person would have typed. */
export function formatSeconds(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const)
    if (seconds % size === 0) return `${seconds / size}${unit}`
  return `${seconds}s`
}

export interface TierBytes {
  readonly hotBytes: number
  readonly coldBytes: number
}

/** `{ tiers }` for a repository with a cold tier (what a restore read from each), else nothing. */
export function tierBytes(repo: Repository): { tiers?: TierBytes } {
  if (repo.cold === undefined) return {}
  const { hotBytes, coldBytes } = repo.tierReads
  return { tiers: { hotBytes, coldBytes } }
}

export function formatTiers(tiers: TierBytes | undefined): string {
  if (tiers === undefined) return ''
  return `; read ${formatBytes(tiers.hotBytes)} from the hot tier, ${formatBytes(tiers.coldBytes)} from the cold tier`
}
