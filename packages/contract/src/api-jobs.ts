// Jobs as the HTTP API takes and returns them (docs/api.md): pools and repositories named by server ids,
// schedules that the server's scheduler fires. The job as stored and returned is complete: every
// default is written out, so what a client shows is what a run uses.
import { CloneType, Type, type Static } from '@sinclair/typebox'
import {
  JobSettings,
  Mode,
  PowerState,
  Retention,
  RetentionAccepted,
  SmartRules,
  SmartRulesAccepted,
} from './job-parts.js'
import { HealthCheck, JobKind, ReplicationTargets } from './replication.js'
import { JOB_REPORT_DEFAULT, JobReport } from './api-notifications.js'
import { Deprecated, Id, List, Names, Strict, Text } from './schema-helpers.js'

export const DEFAULT_TIMEZONE = 'UTC'

const scheduleInputProperties = {
  id: Type.Optional(Id({ description: 'Generated when absent.' })),
  name: Type.Optional(Text(100)),
  cron: Text(100, { description: '5 fields, or 6 with seconds first; croner reads it.' }),
  timezone: Type.Optional(Text(100, { default: DEFAULT_TIMEZONE, description: 'An IANA time zone.' })),
  enabled: Type.Optional(Type.Boolean({ default: true })),
  retention: Type.Optional(Retention),
  forceFull: Type.Optional(Type.Boolean({ default: false, description: 'Every run of it is a full.' })),
  healthCheck: Type.Optional(HealthCheck),
}
export const ScheduleInput = Strict(scheduleInputProperties)
export type ScheduleInput = Static<typeof ScheduleInput>

export const Schedule = Strict({
  ...scheduleInputProperties,
  id: Id(),
  timezone: Text(100),
  enabled: Type.Boolean(),
  forceFull: Type.Boolean(),
})
export type Schedule = Static<typeof Schedule>

export const UuidList = Strict({ uuids: List(Text(200), 1000, { minItems: 1 }) })
export const SmartSelection = Strict({ smart: SmartRules })
export const VmSelection = Type.Union([UuidList, SmartSelection], {
  description: 'An explicit list of VM uuids, or smart rules evaluated at each run.',
})
export type VmSelection = Static<typeof VmSelection>

/** Smart rules as stored: every list present. */
export const CompleteSmartRules = Strict({
  pools: Names(),
  tags: Names(),
  powerState: Type.Optional(PowerState),
  excludeVms: Names(),
  excludeTags: Names(),
  includeRestored: Type.Boolean(),
})
export type CompleteSmartRules = Static<typeof CompleteSmartRules>
export const CompleteVmSelection = Type.Union([UuidList, Strict({ smart: CompleteSmartRules })])
export type CompleteVmSelection = Static<typeof CompleteVmSelection>

const jobInputProperties = {
  name: Text(200),
  enabled: Type.Optional(Type.Boolean({ default: true })),
  kind: Type.Optional(CloneType(JobKind, { default: 'backup' })),
  vms: VmSelection,
  repositories: List(Text(100), 20, {
    description:
      'Repository ids (a backup job needs one at least; a replication job none; a mirror job the one it copies from).',
  }),
  mirrorTo: Type.Optional(
    List(Text(100), 20, { description: 'Repository ids a mirror job copies to (at least one).' }),
  ),
  targets: Type.Optional(
    CloneType(ReplicationTargets, {
      description: "SRs of the server's pools a replication job copies to (`pool`: a pool id).",
    }),
  ),
  settings: Type.Optional(JobSettings),
  schedules: Type.Optional(List(ScheduleInput, 50)),
  report: Type.Optional(CloneType(JobReport, { default: JOB_REPORT_DEFAULT })),
}
/** POST /api/jobs. */
export const JobInput = Strict(jobInputProperties)
export type JobInput = Static<typeof JobInput>
/** PATCH /api/jobs/:id: the fields given replace the stored ones. */
export const JobPatch = Type.Partial(JobInput)
export type JobPatch = Static<typeof JobPatch>

/** What the server accepts: the same, plus the old spellings of one release ago (with a warning). */
const acceptedProperties = {
  ...jobInputProperties,
  vms: Type.Union([UuidList, Strict({ smart: SmartRulesAccepted })]),
  schedules: Type.Optional(
    List(Strict({ ...scheduleInputProperties, retention: Type.Optional(RetentionAccepted) }), 50),
  ),
  mode: Deprecated(Mode, 'settings.mode'),
}
export const JobInputAccepted = Strict(acceptedProperties)
export const JobPatchAccepted = Type.Partial(JobInputAccepted)

export const CompleteSettings = Type.Required(JobSettings)
export type CompleteSettings = Static<typeof CompleteSettings>

/** A job as stored: every default written out. */
export const StoredJob = Strict({
  id: Id(),
  name: Text(200),
  enabled: Type.Boolean(),
  kind: JobKind,
  vms: CompleteVmSelection,
  repositories: List(Text(100), 20),
  targets: ReplicationTargets,
  mirrorTo: Type.Optional(List(Text(100), 20)),
  settings: CompleteSettings,
  schedules: List(Schedule, 50),
  report: JobReport,
})
export type StoredJob = Static<typeof StoredJob>

/** A job as GET /api/jobs returns it. */
export const Job = Type.Composite([
  StoredJob,
  Type.Object({
    running: Type.Boolean(),
    nextRun: Type.Optional(Type.Number({ description: 'ms since the epoch' })),
    warnings: Type.Optional(
      List(Type.String(), 100, { description: 'Old spellings in the request, and what they are now.' }),
    ),
  }),
])
export type Job = Static<typeof Job>

export const PreviewInput = Strict({ vms: VmSelection })
export const PreviewInputAccepted = Strict({ vms: acceptedProperties.vms })
export const PreviewVm = Type.Object({
  poolId: Type.String(),
  uuid: Type.String(),
  name: Type.String(),
  powerState: Type.Optional(Type.String()),
  tags: Type.Optional(Type.Array(Type.String())),
})
export type PreviewVm = Static<typeof PreviewVm>

export const RunJobInput = Type.Union([Strict({ scheduleId: Type.Optional(Text(100)) }), Type.Null()])
