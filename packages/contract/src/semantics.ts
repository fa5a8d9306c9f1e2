// What a schema cannot say: cron expressions that croner reads (and that fire at all), time zones,
// durations, ids that must be unique, retention that keeps something, settings that exclude each other.
import { Cron } from 'croner'
import type { Retention } from './job-parts.js'
import type { Problem } from './problems.js'

/** '' when croner reads the expression in that zone and it comes due some day; else why not. */
export function cronProblem(expression: string, timezone: string): string | undefined {
  let cron: Cron | undefined
  try {
    cron = new Cron(expression, { timezone, paused: true })
    if (cron.nextRun() === null) return `'${expression}' never comes due`
    return undefined
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/^Cron\w*:\s*/, '')
    return `'${expression}' is not a valid cron expression (${reason})`
  } finally {
    cron?.stop()
  }
}

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** 90 (seconds), '90s', '30m', '2h', '1d' → milliseconds; undefined when it is not a duration. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*([smhd])?$/.exec(value.trim()) : null
  if (m === null) return undefined
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's']
  return Number(m[1]) * unit * 1000
}

/** Collects problems of one document. */
export class Checks {
  readonly problems: Problem[] = []

  add(path: string, message: string): void {
    this.problems.push({ path, message })
  }

  /** Each id once; `path(i)` names the i-th item's id field. */
  unique(ids: readonly (string | undefined)[], path: (i: number) => string): void {
    const seen = new Set<string>()
    ids.forEach((id, i) => {
      if (id === undefined) return
      if (seen.has(id)) this.add(path(i), `'${id}' appears twice`)
      seen.add(id)
    })
  }

  schedule(path: string, cron: string | undefined, timezone: string | undefined): void {
    const zone = timezone ?? 'UTC'
    if (!isTimeZone(zone)) {
      this.add(`${path}.timezone`, `unknown time zone '${zone}' (an IANA name such as 'Europe/Paris')`)
      return
    }
    if (cron === undefined) return
    const problem = cronProblem(cron, zone)
    if (problem !== undefined) this.add(`${path}.cron`, problem)
  }

  retention(path: string, retention: Retention | undefined): void {
    if (retention === undefined) return
    if (!Object.values(retention).some((n) => (n ?? 0) > 0))
      this.add(path, 'keeps nothing: give keepLast or a period above 0 (or no retention to keep everything)')
  }

  settings(
    path: string,
    settings: { offline?: boolean; withMemory?: boolean; timeout?: unknown } = {},
  ): void {
    if (settings.offline === true && settings.withMemory === true)
      this.add(path, "'offline' and 'withMemory' exclude each other (a halted VM has no memory)")
    if (settings.timeout !== undefined && durationMs(settings.timeout) === undefined)
      this.add(
        `${path}.timeout`,
        `${JSON.stringify(settings.timeout)} is not a duration (e.g. 90, '30m', '6h')`,
      )
  }
}
