// A checked API job made complete for storage: every default written out (from job-parts.ts and the
// schedule schema), schedule ids given. What the server stores is then what every client shows.
import {
  DEFAULT_TIMEZONE,
  type JobInput,
  type Schedule,
  type ScheduleInput,
  type StoredJob,
} from './api-jobs.js'
import { JOB_REPORT_DEFAULT } from './api-notifications.js'
import { completeSmartRules, withDefaults } from './job-parts.js'

export interface CompleteOptions {
  readonly id: string
  /** A fresh id for a schedule sent without one. */
  readonly newScheduleId: () => string
}

export function completeJob(input: JobInput, options: CompleteOptions): StoredJob {
  return {
    id: options.id,
    name: input.name.trim(),
    enabled: input.enabled ?? true,
    kind: input.kind ?? 'backup',
    vms:
      'smart' in input.vms ? { smart: completeSmartRules(input.vms.smart) } : { uuids: [...input.vms.uuids] },
    repositories: [...input.repositories],
    targets: (input.targets ?? []).map((t) => ({ ...t })),
    ...(input.kind === 'mirror' ? { mirrorTo: [...(input.mirrorTo ?? [])] } : {}),
    settings: withDefaults(input.settings),
    schedules: (input.schedules ?? []).map((s) => completeSchedule(s, options.newScheduleId)),
    report: input.report ?? JOB_REPORT_DEFAULT,
  }
}

export function completeSchedule(s: ScheduleInput, newId: () => string): Schedule {
  return {
    id: s.id ?? newId(),
    ...(s.name === undefined ? {} : { name: s.name }),
    cron: s.cron.trim(),
    timezone: s.timezone ?? DEFAULT_TIMEZONE,
    enabled: s.enabled ?? true,
    ...(s.retention === undefined ? {} : { retention: s.retention }),
    forceFull: s.forceFull ?? false,
    ...(s.healthCheck === undefined ? {} : { healthCheck: s.healthCheck }),
  }
}
