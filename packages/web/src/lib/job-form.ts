// The job editor's model. A stored job maps onto the form field for field (the editor shows the job as
// stored, defaults included, from @strata/contract), and the form maps back to what the API takes. The
// form's types are checked against the contract's: a field added to a job schema fails `npm run
// typecheck` here until the form handles it (see the `Covers` checks and SETTING_FIELDS).
import {
  checkJobInput,
  DEFAULT_TIMEZONE,
  JOB_REPORT_DEFAULT,
  SETTINGS_DEFAULTS,
  type CompleteSettings,
  type CompleteSmartRules,
  type CompleteVmSelection,
  type HealthCheck,
  type JobInput,
  type JobKind,
  type JobReport,
  type Problem,
  type ReplicationTarget,
  type Retention,
  type Schedule,
  type ScheduleInput,
  type SmartRules,
  type StoredJob,
} from '@strata/contract'

/** Every retention count shown (0 = none of that kind). */
export type RetentionForm = Required<Retention>

export interface ScheduleForm {
  /** Absent for a schedule not saved yet (the server gives it one). */
  id: string | undefined
  name: string
  cron: string
  timezone: string
  enabled: boolean
  retention: RetentionForm
  forceFull: boolean
  /** Boot what each run made and wait for its guest; undefined: no health check. */
  healthCheck: HealthCheck | undefined
}

export interface JobForm {
  name: string
  enabled: boolean
  /**
   * Restore points in repositories ('backup'), replicas on SRs ('replication'), copies ('mirror'), or the
   * pools' databases and the server's configuration in repositories ('metadata').
   */
  kind: JobKind
  vms: CompleteVmSelection
  /** A backup's repositories; a mirror's source (one). */
  repositories: string[]
  /** A mirror's target repositories. */
  mirrorTo: string[]
  /** A replication's SRs, each on a pool of the server. */
  targets: ReplicationTarget[]
  settings: CompleteSettings
  schedules: ScheduleForm[]
  /** When runs are reported (e-mail, webhooks); 'default' follows the server's setting. */
  report: JobReport
}

/** True when A and B have the same keys: a key missing on either side is a type error where it is used. */
type Covers<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never]
  ? true
  : never
// The form holds every field of a stored job (but its id), of a schedule, and of a retention policy.
const _jobCovered: Covers<JobForm, Omit<StoredJob, 'id'>> = true
const _scheduleCovered: Covers<ScheduleForm, Schedule> = true
const _inputCovered: Covers<ScheduleForm, Required<ScheduleInput>> = true
const _smartCovered: Covers<CompleteSmartRules, Required<SmartRules>> = true
void [_jobCovered, _scheduleCovered, _inputCovered, _smartCovered]

export const NO_RETENTION: RetentionForm = { keepLast: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }

/** How each retention count is labelled; every count of the contract must be listed. */
export const RETENTION_FIELDS = {
  keepLast: 'Keep last',
  daily: 'Daily',
  weekly: 'Weekly',
  monthly: 'Monthly',
  yearly: 'Yearly',
} as const satisfies Record<keyof RetentionForm, string>

export function emptySmart(): CompleteSmartRules {
  return { pools: [], tags: [], excludeVms: [], excludeTags: [], includeRestored: false }
}

/** The suggestion a new schedule starts from (every day at 02:00 in the browser's zone, 7 points). */
export function newScheduleForm(): ScheduleForm {
  return {
    id: undefined,
    name: 'Daily',
    cron: '0 2 * * *',
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || DEFAULT_TIMEZONE,
    enabled: true,
    retention: { ...NO_RETENTION, keepLast: 7 },
    forceFull: false,
    healthCheck: undefined,
  }
}

/** A health check as the editor starts it: every VM, 10 minutes, no guest script. */
export function newHealthCheck(): HealthCheck {
  return { tags: [], timeout: '10m', guestCheck: false }
}

/** A new job: the contract's defaults, a smart selection and one daily schedule. */
export function newJobForm(): JobForm {
  return {
    name: '',
    enabled: true,
    kind: 'backup',
    vms: { smart: emptySmart() },
    repositories: [],
    mirrorTo: [],
    targets: [],
    settings: { ...SETTINGS_DEFAULTS },
    schedules: [newScheduleForm()],
    report: JOB_REPORT_DEFAULT,
  }
}

/** The form of a stored job, field for field; a setting the server did not write out shows its default. */
export function jobToForm(job: StoredJob): JobForm {
  return {
    name: job.name,
    enabled: job.enabled,
    vms:
      'smart' in job.vms ? { smart: { ...emptySmart(), ...job.vms.smart } } : { uuids: [...job.vms.uuids] },
    // A job from a server older than replication has neither.
    kind: job.kind ?? 'backup',
    repositories: [...job.repositories],
    mirrorTo: [...(job.mirrorTo ?? [])],
    targets: (job.targets ?? []).map((t) => ({ ...t })),
    settings: { ...SETTINGS_DEFAULTS, ...job.settings },
    schedules: job.schedules.map(scheduleToForm),
    report: job.report ?? JOB_REPORT_DEFAULT,
  }
}

function scheduleToForm(s: Schedule): ScheduleForm {
  return {
    id: s.id,
    name: s.name ?? '',
    cron: s.cron,
    timezone: s.timezone,
    enabled: s.enabled,
    retention: { ...NO_RETENTION, ...s.retention },
    forceFull: s.forceFull,
    healthCheck: s.healthCheck === undefined ? undefined : { ...s.healthCheck },
  }
}

/** What the API takes: trimmed text, tidy lists, no retention when it keeps nothing (= keep every point). */
export function formToInput(form: JobForm): JobInput {
  return {
    name: form.name.trim(),
    enabled: form.enabled,
    kind: form.kind,
    vms: 'smart' in form.vms ? { smart: cleanSmart(form.vms.smart) } : { uuids: [...form.vms.uuids] },
    // A job writes to repositories or to SRs, never both: the other list is left out.
    repositories: form.kind === 'replication' ? [] : [...form.repositories],
    ...(form.kind === 'replication'
      ? { targets: form.targets.map((t) => ({ pool: t.pool, sr: t.sr.trim() })) }
      : {}),
    // A mirror made another kind says its targets are gone: a PATCH keeps the fields it does not name.
    ...(form.kind === 'mirror' || form.mirrorTo.length > 0
      ? { mirrorTo: form.kind === 'mirror' ? [...form.mirrorTo] : [] }
      : {}),
    settings: cleanSettings(form.settings),
    schedules: form.schedules.map(scheduleToInput),
    report: form.report,
  }
}

function scheduleToInput(s: ScheduleForm): ScheduleInput {
  const kept = Object.entries(s.retention).filter(([, n]) => Number.isFinite(n) && n > 0)
  const name = s.name.trim()
  return {
    ...(s.id === undefined ? {} : { id: s.id }),
    ...(name === '' ? {} : { name }),
    cron: s.cron.trim(),
    timezone: s.timezone,
    enabled: s.enabled,
    ...(kept.length === 0 ? {} : { retention: Object.fromEntries(kept) as Retention }),
    forceFull: s.forceFull,
    ...(s.healthCheck === undefined ? {} : { healthCheck: cleanHealthCheck(s.healthCheck) }),
  }
}

function cleanHealthCheck(h: HealthCheck): HealthCheck {
  const sr = h.sr?.trim()
  return {
    ...(sr === undefined || sr === '' ? {} : { sr }),
    ...(h.pool === undefined || h.pool === '' ? {} : { pool: h.pool }),
    tags: [...new Set((h.tags ?? []).map((t) => t.trim()).filter((t) => t !== ''))],
    ...(h.timeout === undefined || h.timeout === '' ? {} : { timeout: h.timeout }),
    guestCheck: h.guestCheck === true,
  }
}

/** Settings as the server should get them: a field cleared in the form (empty, NaN) is left out. */
export function cleanSettings(settings: Partial<CompleteSettings>): Partial<CompleteSettings> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined || value === null || value === '') continue
    if (typeof value === 'number' && !Number.isFinite(value)) continue
    out[key] = value
  }
  return out as Partial<CompleteSettings>
}

function cleanSmart(s: CompleteSmartRules): CompleteSmartRules {
  const list = (values: string[]) => [...new Set(values.map((v) => v.trim()).filter((v) => v !== ''))]
  return {
    pools: list(s.pools),
    tags: list(s.tags),
    ...(s.powerState === undefined ? {} : { powerState: s.powerState }),
    excludeVms: list(s.excludeVms),
    excludeTags: list(s.excludeTags),
    includeRestored: s.includeRestored,
  }
}

/** The problems the server would answer with, found by the same validator before anything is sent. */
export function formProblems(form: JobForm): Problem[] {
  const checked = checkJobInput(formToInput(form))
  return checked.ok ? [] : checked.problems
}

/** How the editor names each report policy; every policy of the contract must be listed. */
export const REPORT_CHOICES = {
  default: "The server's setting (Settings → Notifications)",
  always: 'After every run',
  failure: 'Only when a run fails',
  never: 'Never',
} as const satisfies Record<JobReport, string>

export const CRON_PRESETS = [
  { cron: '0 2 * * *', label: 'Every day at 02:00' },
  { cron: '0 * * * *', label: 'Every hour' },
  { cron: '0 4 * * 0', label: 'Sundays at 04:00' },
  { cron: '0 3 1 * *', label: 'The 1st of each month at 03:00' },
]

/**
 * "Smart: tags prod, Running, 2 pools"; VMs picked by hand by name ("web-01, db-01 + 2 more") when
 * `vmName` is given (an entry it does not know shows as stored: a name, or a VM on no connected pool),
 * else "3 VMs".
 */
export function describeSelection(
  vms: CompleteVmSelection,
  poolName: (id: string) => string = (id) => id,
  vmName?: (entry: string) => string | undefined,
): string {
  if ('uuids' in vms) {
    const n = vms.uuids.length
    if (vmName === undefined) return `${n} VM${n === 1 ? '' : 's'}`
    const shown = vms.uuids.slice(0, 3).map((entry) => vmName(entry) ?? entry)
    return `${shown.join(', ')}${n > 3 ? ` + ${n - 3} more` : ''}`
  }
  const s = vms.smart
  const parts = [
    s.pools.length === 0 ? 'all pools' : s.pools.map(poolName).join(', '),
    s.tags.length > 0 ? `tags ${s.tags.join(', ')}` : undefined,
    s.powerState,
    s.excludeTags.length > 0 ? `not ${s.excludeTags.join(', ')}` : undefined,
    s.excludeVms.length > 0 ? `${s.excludeVms.length} excluded` : undefined,
    s.includeRestored ? 'restored VMs too' : undefined,
  ]
  return `Smart: ${parts.filter((p) => p !== undefined).join(' · ')}`
}

/** Comma- or line-separated words, as tag fields take them. */
export function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((t) => t.trim())
    .filter((t) => t !== '')
}
