// Retention: which restore points to keep. Pure: points and a policy in, a decision out. Rules follow the
// keep-last / daily / weekly / monthly / yearly model: each period rule keeps the newest point of each of
// the N most recent periods that have points, periods computed in the given time zone.
import { StrataError } from '../shared/index.js'

export interface RetentionPolicy {
  readonly keepLast?: number
  readonly daily?: number
  readonly weekly?: number
  readonly monthly?: number
  readonly yearly?: number
}

export interface RetentionItem {
  readonly id: string
  readonly time: Date
  /** Rules apply per schedule: points of different schedules never count against each other. */
  readonly scheduleId?: string
}

export interface RetentionDecision {
  readonly keep: { readonly id: string; readonly reasons: readonly string[] }[]
  readonly remove: readonly string[]
}

export class RetentionError extends StrataError {}

type Period = 'daily' | 'weekly' | 'monthly' | 'yearly'
const PERIODS: readonly Period[] = ['daily', 'weekly', 'monthly', 'yearly']

export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return !((policy.keepLast ?? 0) > 0 || PERIODS.some((p) => (policy[p] ?? 0) > 0))
}

export function applyRetention(
  items: readonly RetentionItem[],
  policy: RetentionPolicy | ((scheduleId: string | undefined) => RetentionPolicy),
  timeZone = 'UTC',
): RetentionDecision {
  const calendar = makeCalendar(timeZone)
  if (typeof policy !== 'function') validate(policy)
  const groups = new Map<string | undefined, RetentionItem[]>()
  for (const item of items) groups.set(item.scheduleId, [...(groups.get(item.scheduleId) ?? []), item])
  const reasons = new Map<string, string[]>()
  for (const [scheduleId, group] of groups) {
    const rules = typeof policy === 'function' ? policy(scheduleId) : policy
    validate(rules)
    const newestFirst = [...group].sort((a, b) => b.time.getTime() - a.time.getTime())
    const keep = (item: RetentionItem, why: string): void => {
      reasons.set(item.id, [...(reasons.get(item.id) ?? []), why])
    }
    newestFirst.slice(0, rules.keepLast ?? 0).forEach((item) => keep(item, 'last'))
    for (const period of PERIODS) {
      let remaining = rules[period] ?? 0
      let last: string | undefined
      for (const item of newestFirst) {
        if (remaining === 0) break
        const bucket = calendar(item.time, period)
        if (bucket === last) continue
        last = bucket
        remaining--
        keep(item, `${period} ${bucket}`)
      }
    }
  }
  const ordered = [...items].sort((a, b) => a.time.getTime() - b.time.getTime())
  return {
    keep: ordered.filter((i) => reasons.has(i.id)).map((i) => ({ id: i.id, reasons: reasons.get(i.id)! })),
    remove: ordered.filter((i) => !reasons.has(i.id)).map((i) => i.id),
  }
}

function validate(policy: RetentionPolicy): void {
  for (const [name, value] of Object.entries(policy)) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new RetentionError(
        'INVALID_POLICY',
        `retention rule '${name}' must be a non-negative integer, not ${value}`,
      )
    }
  }
  // An empty policy would delete everything: that is never what a user meant.
  if (isEmptyPolicy(policy)) throw new RetentionError('INVALID_POLICY', 'retention policy keeps nothing')
}

/** Period labels ('2026-11-21', '2026-W47', '2026-11', '2026') of an instant in a time zone. */
export function makeCalendar(timeZone: string): (time: Date, period: Period) => string {
  let format: Intl.DateTimeFormat
  try {
    format = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
  } catch (cause) {
    throw new RetentionError('INVALID_TIME_ZONE', `unknown time zone '${timeZone}'`, { cause })
  }
  return (time, period) => {
    const parts = Object.fromEntries(format.formatToParts(time).map((p) => [p.type, p.value]))
    const [y, m, d] = [Number(parts.year), Number(parts.month), Number(parts.day)]
    const pad = (n: number): string => String(n).padStart(2, '0')
    if (period === 'daily') return `${y}-${pad(m)}-${pad(d)}`
    if (period === 'monthly') return `${y}-${pad(m)}`
    if (period === 'yearly') return `${y}`
    const { year, week } = isoWeek(y, m, d)
    return `${year}-W${pad(week)}`
  }
}

/** ISO 8601 week of a calendar date (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(y: number, m: number, d: number): { year: number; week: number } {
  const date = new Date(Date.UTC(y, m - 1, d))
  const weekday = (date.getUTCDay() + 6) % 7 // Monday = 0
  date.setUTCDate(date.getUTCDate() - weekday + 3) // the Thursday of this week decides the year
  const year = date.getUTCFullYear()
  const week = 1 + Math.floor((date.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7)
  return { year, week }
}
