// What the UI's charts draw (docs/monitoring.md, "Charts in the UI"): finished runs of jobs with their durations and
// bytes, and each repository's stored and logical bytes over time (samples the server takes).
import { Type, type Static } from '@sinclair/typebox'
import { TaskStatus } from './api-runs.js'
import { Strict, Text } from './schema-helpers.js'

/** At most this many days back. */
export const STATS_MAX_DAYS = 366

const Days = Type.String({
  pattern: '^[1-9][0-9]{0,2}$',
  description: `How many days back (1 to ${STATS_MAX_DAYS}).`,
})

export const RunStatsQuery = Strict({
  days: Type.Optional(Days),
  job: Type.Optional(Text(100, { description: 'A job id.' })),
})
export type RunStatsQuery = Static<typeof RunStatsQuery>

/** A finished run of a job; the byte counts are absent for runs recorded before the server kept them. */
export const RunStat = Type.Object({
  runId: Type.String(),
  jobId: Type.String(),
  jobName: Type.String(),
  status: TaskStatus,
  start: Type.Number(),
  end: Type.Number(),
  durationMs: Type.Number(),
  bytesRead: Type.Optional(Type.Number()),
  bytesStored: Type.Optional(Type.Number({ description: 'New bytes the run added to its repositories.' })),
  size: Type.Optional(Type.Number({ description: "The VMs' disks, added up." })),
})
export type RunStat = Static<typeof RunStat>

export const UsageQuery = Strict({
  days: Type.Optional(Days),
  repository: Type.Optional(Text(100, { description: 'A repository id.' })),
})
export type UsageQuery = Static<typeof UsageQuery>

export const UsageSample = Type.Object({
  time: Type.Number(),
  storedBytes: Type.Number({ description: 'The chunks in the repository (compressed, deduplicated).' }),
  logicalBytes: Type.Number({
    description: "The restore points' disks, added up (what they would take whole).",
  }),
  chunks: Type.Number(),
  points: Type.Number(),
})
export type UsageSample = Static<typeof UsageSample>

export const UsageSeries = Type.Object({
  repositoryId: Type.String(),
  name: Type.String(),
  samples: Type.Array(UsageSample),
})
export type UsageSeries = Static<typeof UsageSeries>
