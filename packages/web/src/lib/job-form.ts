// The job editor's model: defaults for a new job and schedule, what is sent to the server (settings
// left empty are not sent, so the engine's defaults apply), and one-line summaries for the jobs list.
import type { JobInput, JobSettings, Schedule, SmartSelection, VmSelection } from '../api/types'

export function defaultSchedule(): Schedule {
  return {
    name: 'Daily',
    cron: '0 2 * * *',
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
    enabled: true,
    retention: { keep: 7, daily: 0, weekly: 0, monthly: 0, yearly: 0 },
    forceFull: false,
  }
}

export function emptySmart(): SmartSelection {
  return { pools: [], tags: [], excludeTags: [], excludeUuids: [] }
}

export function defaultJob(): JobInput {
  return {
    name: '',
    enabled: true,
    mode: 'delta',
    vms: { smart: emptySmart() },
    repositories: [],
    settings: { preferNbd: true, nbdConnections: 4, vmConcurrency: 2, fullInterval: 20, retries: 0 },
    schedules: [defaultSchedule()],
  }
}

export const CRON_PRESETS = [
  { cron: '0 2 * * *', label: 'Every day at 02:00' },
  { cron: '0 * * * *', label: 'Every hour' },
  { cron: '0 4 * * 0', label: 'Sundays at 04:00' },
  { cron: '0 3 1 * *', label: 'The 1st of each month at 03:00' },
]

/** Settings as the server should get them: no empty, NaN or undefined values. */
export function cleanSettings(settings: JobSettings): JobSettings {
  const out: JobSettings = {}
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined || value === null || value === '') continue
    if (typeof value === 'number' && !Number.isFinite(value)) continue
    out[key] = value
  }
  return out
}

export function toJobInput(form: JobInput): JobInput {
  return {
    ...form,
    name: form.name.trim(),
    vms: 'smart' in form.vms ? { smart: cleanSmart(form.vms.smart) } : { uuids: [...form.vms.uuids] },
    settings: cleanSettings(form.settings),
    schedules: form.schedules.map((s) => ({ ...s, cron: s.cron.trim(), name: s.name?.trim() || undefined })),
  }
}

function cleanSmart(s: SmartSelection): SmartSelection {
  const list = (values: string[]) => [...new Set(values.map((v) => v.trim()).filter((v) => v !== ''))]
  const out: SmartSelection = {
    pools: list(s.pools),
    tags: list(s.tags),
    excludeTags: list(s.excludeTags),
    excludeUuids: list(s.excludeUuids),
  }
  if (s.powerState !== undefined) out.powerState = s.powerState
  return out
}

/** "Smart: tags prod, Running, 2 pools" or "3 VMs". */
export function describeSelection(vms: VmSelection, poolName: (id: string) => string = (id) => id): string {
  if ('uuids' in vms) return `${vms.uuids.length} VM${vms.uuids.length === 1 ? '' : 's'}`
  const s = vms.smart
  const parts = [
    s.pools.length === 0 ? 'all pools' : s.pools.map(poolName).join(', '),
    s.tags.length > 0 ? `tags ${s.tags.join(', ')}` : undefined,
    s.powerState,
    s.excludeTags.length > 0 ? `not ${s.excludeTags.join(', ')}` : undefined,
    s.excludeUuids.length > 0 ? `${s.excludeUuids.length} excluded` : undefined,
  ]
  return `Smart: ${parts.filter((p) => p !== undefined).join(' · ')}`
}

/** Comma- or space-separated words, as tag fields take them. */
export function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((t) => t.trim())
    .filter((t) => t !== '')
}
