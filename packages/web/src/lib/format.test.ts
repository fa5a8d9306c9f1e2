import { describe, expect, it } from 'vitest'
import { elapsed, formatBytes, formatDuration, formatRelative, statusLabel, statusTone } from './format'

describe('format', () => {
  it('writes sizes in binary units with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1023)).toBe('1023 B')
    expect(formatBytes(1536)).toBe('1.50 KiB')
    expect(formatBytes(64 * 1024 * 1024)).toBe('64.0 MiB')
    expect(formatBytes(300 * 1024 ** 3)).toBe('300 GiB')
    expect(formatBytes(undefined)).toBe('—')
  })

  it('writes durations from milliseconds to days', () => {
    expect(formatDuration(850)).toBe('850 ms')
    expect(formatDuration(42_000)).toBe('42 s')
    expect(formatDuration(185_000)).toBe('3 min 05 s')
    expect(formatDuration((2 * 60 + 7) * 60_000)).toBe('2 h 07 min')
    expect(formatDuration((3 * 24 + 4) * 3_600_000)).toBe('3 d 4 h')
  })

  it('measures a running task from a clock that ticked before it began as 0, never negative', () => {
    expect(elapsed(1000, undefined, 900)).toBe(0)
    expect(elapsed(1000, undefined, 2500)).toBe(1500)
    expect(elapsed(1000, 1200, 9999)).toBe(200)
  })

  it('says how far a time is from now', () => {
    expect(formatRelative(10_000 + 5 * 60_000 + 3000, 10_000)).toBe('in 5 min')
    expect(formatRelative(10_000, 10_000 + 3 * 3_600_000)).toBe('3 h ago')
  })

  it('gives each status its colour: green success, red failure, orange running or interrupted', () => {
    expect(statusTone('success')).toBe('ok')
    expect(statusTone('failure')).toBe('bad')
    expect(statusTone('pending')).toBe('busy')
    expect(statusTone('interrupted')).toBe('busy')
    expect(statusTone('warning')).toBe('busy')
    expect(statusTone('skipped')).toBe('muted')
    expect(statusLabel('pending')).toBe('running')
  })
})
