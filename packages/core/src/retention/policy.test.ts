import { describe, expect, it } from 'vitest'
import { applyRetention, isoWeek, makeCalendar, type RetentionItem } from './policy.js'

const at = (iso: string, id = iso, scheduleId?: string): RetentionItem => ({
  id,
  time: new Date(iso),
  scheduleId,
})

describe('applyRetention', () => {
  it('keeps the last N', () => {
    const items = [at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'), at('2026-01-03T00:00:00Z')]
    const d = applyRetention(items, { keepLast: 2 })
    expect(d.keep.map((k) => k.id)).toEqual(['2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z'])
    expect(d.remove).toEqual(['2026-01-01T00:00:00Z'])
  })

  it('keeps the newest point of each of the last N days', () => {
    const items = [
      at('2026-03-01T08:00:00Z', 'a'),
      at('2026-03-01T20:00:00Z', 'b'),
      at('2026-03-02T08:00:00Z', 'c'),
      at('2026-03-03T08:00:00Z', 'd'),
      at('2026-03-03T09:00:00Z', 'e'),
    ]
    const d = applyRetention(items, { daily: 2 })
    expect(d.keep.map((k) => k.id)).toEqual(['c', 'e'])
    expect(d.remove).toEqual(['a', 'b', 'd'])
  })

  it('computes days in the given time zone', () => {
    // 23:30 UTC on the 1st is already the 2nd in Paris: both points fall on the same Paris day.
    const items = [at('2026-03-01T23:30:00Z', 'late'), at('2026-03-02T10:00:00Z', 'next')]
    expect(applyRetention(items, { daily: 5 }, 'UTC').keep.map((k) => k.id)).toEqual(['late', 'next'])
    expect(applyRetention(items, { daily: 5 }, 'Europe/Paris').keep.map((k) => k.id)).toEqual(['next'])
  })

  it('applies weekly, monthly and yearly rules together with reasons', () => {
    const items = [
      at('2024-12-31T12:00:00Z', 'y2024'),
      at('2025-06-10T12:00:00Z', 'jun'),
      at('2025-07-01T12:00:00Z', 'jul1'),
      at('2025-07-07T12:00:00Z', 'jul7'),
      at('2025-07-08T12:00:00Z', 'jul8'),
    ]
    const d = applyRetention(items, { weekly: 2, monthly: 2, yearly: 2 })
    const reasons = Object.fromEntries(d.keep.map((k) => [k.id, k.reasons]))
    expect(reasons.jul8).toEqual(['weekly 2025-W28', 'monthly 2025-07', 'yearly 2025'])
    expect(reasons.jul1).toEqual(['weekly 2025-W27'])
    expect(reasons.jun).toEqual(['monthly 2025-06'])
    expect(reasons.y2024).toEqual(['yearly 2024'])
    expect(d.remove).toEqual(['jul7'])
  })

  it('applies rules per schedule', () => {
    const items = [
      at('2026-01-01T00:00:00Z', 'a1', 'A'),
      at('2026-01-02T00:00:00Z', 'b1', 'B'),
      at('2026-01-03T00:00:00Z', 'a2', 'A'),
    ]
    const d = applyRetention(items, (s) => (s === 'A' ? { keepLast: 1 } : { keepLast: 5 }))
    expect(d.remove).toEqual(['a1'])
  })

  it('refuses a policy that keeps nothing, bad counts and unknown zones', () => {
    expect(() => applyRetention([], {})).toThrow(/keeps nothing/)
    expect(() => applyRetention([at('2026-01-01T00:00:00Z')], { keepLast: -1 })).toThrow(/non-negative/)
    expect(() => applyRetention([], { keepLast: 1 }, 'Mars/Olympus')).toThrow(/time zone/)
  })
})

describe('isoWeek', () => {
  it('matches known ISO weeks at year boundaries', () => {
    expect(isoWeek(2026, 1, 1)).toEqual({ year: 2026, week: 1 }) // Thursday
    expect(isoWeek(2027, 1, 1)).toEqual({ year: 2026, week: 53 }) // Friday of 2026-W53
    expect(isoWeek(2024, 12, 30)).toEqual({ year: 2025, week: 1 })
    expect(isoWeek(2025, 7, 7)).toEqual({ year: 2025, week: 28 })
    expect(makeCalendar('UTC')(new Date('2021-01-03T12:00:00Z'), 'weekly')).toBe('2020-W53')
  })
})
