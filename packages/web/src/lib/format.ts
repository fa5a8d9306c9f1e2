// How numbers read in the UI: binary sizes (as hypervisors and XO show them), short durations, local
// dates, and the colour family of each status (green success, red failure, orange running/interrupted).
import type { TaskStatus } from '@strata/contract'

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '—'
  let value = Math.abs(bytes)
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${bytes < 0 ? '-' : ''}${value.toFixed(digits)} ${UNITS[unit]}`
}

export function formatSpeed(bytesPerSecond: number | undefined): string {
  return bytesPerSecond === undefined ? '—' : `${formatBytes(bytesPerSecond)}/s`
}

/** 850 ms, 42 s, 3 min 05 s, 2 h 07 min, 3 d 4 h. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  const pad = (n: number) => String(n).padStart(2, '0')
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${pad(s % 60)} s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h} h ${pad(m % 60)} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}

/** How long something took, or has been running: never negative when the clock ticked before it began. */
export function elapsed(start: number, end: number | undefined, now: number): number {
  return Math.max(0, (end ?? now) - start)
}

export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return '—'
  return new Date(ms).toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  })
}

/** "in 5 min", "3 h ago". */
export function formatRelative(ms: number | undefined, now = Date.now()): string {
  if (ms === undefined) return '—'
  const delta = ms - now
  const text = formatDuration(Math.abs(delta)).replace(/ \d+ (s|min)$/, '')
  return Math.abs(delta) < 1000 ? 'now' : delta > 0 ? `in ${text}` : `${text} ago`
}

export type StatusTone = 'ok' | 'bad' | 'busy' | 'muted'

export function statusTone(status: TaskStatus | string): StatusTone {
  switch (status) {
    case 'success':
      return 'ok'
    case 'failure':
      return 'bad'
    case 'pending':
    case 'interrupted':
    case 'warning': // done, but a check of it failed (a health check): orange, not green
      return 'busy'
    default:
      return 'muted'
  }
}

export function statusLabel(status: TaskStatus | string): string {
  return status === 'pending' ? 'running' : status
}
