// The parts of a job that job files and the API share, with their defaults. A default lives here and
// nowhere else: the engine, the server and the UI's form all read it from this file.
import { CloneType, Type, type Static } from '@sinclair/typebox'
import { Count, Deprecated, Names, Strict, Text } from './schema-helpers.js'

export const Mode = Type.Union([Type.Literal('delta'), Type.Literal('full')], {
  description: "'delta' reuses a verified base; 'full' reads every block of every disk.",
})
export type Mode = Static<typeof Mode>

export const PowerState = Type.Union([Type.Literal('Running'), Type.Literal('Halted')])
export type PowerState = Static<typeof PowerState>

export const ChangedBlocks = Type.Union(
  [
    Type.Literal('auto'),
    Type.Literal('cbt'),
    Type.Literal('vhd-bat'),
    Type.Literal('vhd-stream'),
    Type.Literal('full'),
  ],
  { description: 'Force one changed-block path (diagnostics).' },
)
export type ChangedBlocks = Static<typeof ChangedBlocks>

/** 90 (seconds), '90s', '30m', '2h', '1d'. */
export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*[smhd]?\\s*$'
export const Duration = Type.Union(
  [
    Count(),
    Text(20, { pattern: DURATION_PATTERN, errorMessage: "a duration: seconds, or '90s', '30m', '6h', '1d'" }),
  ],
  {
    description: "Seconds, or a number with a unit: '90s', '30m', '6h', '1d'. 0 = no limit.",
  },
)

/** What a job uses for a setting it does not give. */
const DEFAULTS = {
  mode: 'delta',
  // Every point in a repository is complete (nothing chains), so a forced full only re-reads the disks.
  fullInterval: 0,
  offline: false,
  withMemory: false,
  preferNbd: true,
  // The measured sweet spot (docs/dev/nbd.md): 1–2 connections of 16 requests lead on loopback and LAN.
  nbdConnections: 2,
  maxBytesPerSecond: 0,
  vmConcurrency: 2,
  retries: 0,
  timeout: 0,
  changedBlocks: 'auto',
} as const

export const JobSettings = Strict({
  mode: Type.Optional(CloneType(Mode, { default: DEFAULTS.mode })),
  fullInterval: Type.Optional(
    Count({ default: DEFAULTS.fullInterval, description: 'A full backup every N runs of a VM (0 = never).' }),
  ),
  offline: Type.Optional(Type.Boolean({ default: DEFAULTS.offline })),
  withMemory: Type.Optional(Type.Boolean({ default: DEFAULTS.withMemory })),
  preferNbd: Type.Optional(Type.Boolean({ default: DEFAULTS.preferNbd })),
  nbdConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, default: DEFAULTS.nbdConnections })),
  maxBytesPerSecond: Type.Optional(
    Count({ default: DEFAULTS.maxBytesPerSecond, description: 'Per VM; 0 = no limit.' }),
  ),
  vmConcurrency: Type.Optional(
    Count({ maximum: 1000, default: DEFAULTS.vmConcurrency, description: 'VMs at once; 0 = all.' }),
  ),
  retries: Type.Optional(Count({ maximum: 100, default: DEFAULTS.retries })),
  timeout: Type.Optional(CloneType(Duration, { default: DEFAULTS.timeout })),
  changedBlocks: Type.Optional(CloneType(ChangedBlocks, { default: DEFAULTS.changedBlocks })),
})
export type JobSettings = Static<typeof JobSettings>

/** Every setting's default (the type makes sure none is missing). */
export const SETTINGS_DEFAULTS: Readonly<Required<JobSettings>> = DEFAULTS

/** A job's settings with every default filled in. */
export function withDefaults(settings: JobSettings = {}): Required<JobSettings> {
  const out: Record<string, unknown> = { ...SETTINGS_DEFAULTS }
  for (const [key, value] of Object.entries(settings)) if (value !== undefined) out[key] = value
  return out as Required<JobSettings>
}

const retentionProperties = {
  keepLast: Type.Optional(Count({ description: 'The last N restore points.' })),
  daily: Type.Optional(Count({ description: 'The newest point of each of the last N days.' })),
  weekly: Type.Optional(Count()),
  monthly: Type.Optional(Count()),
  yearly: Type.Optional(Count()),
}
export const Retention = Strict(retentionProperties, {
  description: 'Restore points kept per VM and repository for one schedule; none = keep everything.',
})
export type Retention = Static<typeof Retention>
export const RetentionAccepted = Strict({ ...retentionProperties, keep: Deprecated(Count(), 'keepLast') })

const smartProperties = {
  pools: Type.Optional(Names({ default: [], description: 'Pool ids; empty = every pool.' })),
  tags: Type.Optional(Names({ default: [], description: 'A VM with at least one of them; empty = any.' })),
  powerState: Type.Optional(PowerState),
  excludeVms: Type.Optional(Names({ default: [], description: 'VM names or uuids never selected.' })),
  excludeTags: Type.Optional(Names({ default: [] })),
  includeRestored: Type.Optional(
    Type.Boolean({
      default: false,
      description: "Also VMs a restore created (tagged 'restored from backup', or the server's restore tag).",
    }),
  ),
}
export const SmartRules = Strict(smartProperties)
export type SmartRules = Static<typeof SmartRules>
export const SmartRulesAccepted = Strict({
  ...smartProperties,
  excludeUuids: Deprecated(Names(), 'excludeVms'),
})

// A job file may also name the tag its restores give (`strata restore vm --tag`); the server has its own
// setting for that (restoreTag), so its API does not take one per job.
const fileSmartProperties = {
  ...smartProperties,
  restoredTag: Type.Optional(
    Text(100, { description: "The tag restored VMs carry (default 'restored from backup')." }),
  ),
}
export const FileSmartRules = Strict(fileSmartProperties)
export type FileSmartRules = Static<typeof FileSmartRules>
export const FileSmartRulesAccepted = Strict({
  ...fileSmartProperties,
  excludeUuids: Deprecated(Names(), 'excludeVms'),
})

/** Smart rules with every list present. */
export function completeSmartRules(rules: SmartRules): Required<Omit<SmartRules, 'powerState'>> & SmartRules {
  return {
    ...rules,
    pools: rules.pools ?? [],
    tags: rules.tags ?? [],
    excludeVms: rules.excludeVms ?? [],
    excludeTags: rules.excludeTags ?? [],
    includeRestored: rules.includeRestored ?? false,
  }
}
