// The old spellings of one release ago, accepted with a warning until the next release: each is moved to
// its new name before validation, so everything past this file knows only the new names.
//   retention.keep       → retention.keepLast   (what it keeps: the last N points)
//   excludeUuids         → excludeVms           (names or uuids of VMs, like the explicit list)
//   mode (top level)     → settings.mode        (a how-setting, beside fullInterval)
import type { Problem } from './problems.js'

export interface Upgraded {
  readonly value: unknown
  /** One per old spelling found. */
  readonly warnings: Problem[]
  /** An old and a new spelling of the same field given together. */
  readonly problems: Problem[]
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const at = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`)

class Renamer {
  readonly warnings: Problem[] = []
  readonly problems: Problem[] = []

  /** Moves `from` to `to` in `o` (an object found at `path`); `toLabel` names the new field in messages. */
  rename(o: unknown, path: string, from: string, to: string, toLabel = to, target?: Json): void {
    if (!isObject(o) || !(from in o)) return
    const into = target ?? o
    const where = at(path, from)
    if (into[to] !== undefined && o[from] !== undefined) {
      const message = `renamed '${toLabel}', which is also given: keep only '${toLabel}'`
      this.problems.push({ path: where, message })
      return
    }
    this.warnings.push({
      path: where,
      message: `deprecated: renamed '${toLabel}' (the old name is accepted until the next release)`,
    })
    const value = o[from]
    delete o[from]
    if (value !== undefined) into[to] = value
  }

  schedules(job: Json): void {
    if (!Array.isArray(job.schedules)) return
    job.schedules.forEach((s: unknown, i) => {
      if (isObject(s)) this.rename(s.retention, `schedules[${i}].retention`, 'keep', 'keepLast')
    })
  }

  mode(job: Json, settingsBefore?: unknown): void {
    if (!('mode' in job)) return
    if (job.settings === undefined) {
      const { mode: _replaced, ...kept } = isObject(settingsBefore) ? settingsBefore : {}
      job.settings = kept
    }
    if (isObject(job.settings)) this.rename(job, '', 'mode', 'mode', 'settings.mode', job.settings)
  }
}

function upgrade(value: unknown, steps: (r: Renamer, job: Json) => void): Upgraded {
  if (!isObject(value)) return { value, warnings: [], problems: [] }
  const job = JSON.parse(JSON.stringify(value)) as Json // JSON in, JSON out: a deep copy
  const renamer = new Renamer()
  steps(renamer, job)
  return { value: job, warnings: renamer.warnings, problems: renamer.problems }
}

/** A job file (vms: a list or smart rules). */
export function upgradeJobFile(value: unknown): Upgraded {
  return upgrade(value, (r, job) => {
    r.mode(job)
    r.rename(job.vms, 'vms', 'excludeUuids', 'excludeVms')
    r.schedules(job)
  })
}

/**
 * A job sent to the API (vms: {uuids} or {smart}). For a PATCH, `settingsBefore` are the stored settings:
 * an old top-level `mode` alone changes the mode and keeps the other settings.
 */
export function upgradeJobInput(value: unknown, settingsBefore?: unknown): Upgraded {
  return upgrade(value, (r, job) => {
    r.mode(job, settingsBefore)
    if (isObject(job.vms)) r.rename(job.vms.smart, 'vms.smart', 'excludeUuids', 'excludeVms')
    r.schedules(job)
  })
}
