// A job file (docs/jobs.md): what `strata backup run JOB.json` reads, and what the server gives the engine
// for each run (pools and repositories spelt out, secrets added only then).
import { CloneType, Type, type Static } from '@sinclair/typebox'
import {
  FileSmartRules,
  FileSmartRulesAccepted,
  JobSettings,
  Mode,
  Retention,
  RetentionAccepted,
} from './job-parts.js'
import { HealthCheck, JobKind, ReplicationTargets } from './replication.js'
import { Count, Deprecated, Id, List, Strict, Text } from './schema-helpers.js'

/** http(s)://host[:port] of any pool member, nothing after. */
export const POOL_URL_PATTERN = '^https?://[^/\\s]+/?$'
/**
 * SHA-256 of a certificate as people paste it: 64 hex digits, bare or in colon-separated pairs, in any
 * case, optionally after openssl's `sha256 Fingerprint=` (what the check on the host prints). The engine
 * and the server keep it in one canonical form (core's parseFingerprint accepts the same).
 */
export const FINGERPRINT_PATTERN =
  '^\\s*(([Ss][Hh][Aa]-?256\\s+)?[Ff][Ii][Nn][Gg][Ee][Rr][Pp][Rr][Ii][Nn][Tt]\\s*=\\s*)?' +
  '(([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{64})\\s*$'

export const PoolUrl = Text(500, {
  pattern: POOL_URL_PATTERN,
  description: 'http(s)://host[:port] of any pool member.',
  errorMessage: 'http(s)://host[:port], with nothing after',
})
export const Fingerprint = Type.String({
  pattern: FINGERPRINT_PATTERN,
  maxLength: 200,
  errorMessage: 'a SHA-256 fingerprint: 64 hex digits, bare or in colon-separated pairs',
  description: "SHA-256 fingerprint of the pool's TLS certificate, pinned instead of trusting a CA.",
})
export const InsecureHttp = Type.Boolean({
  description: 'Allow a plain http:// pool URL (refused otherwise).',
})

export const PoolConnection = Strict({
  id: Id({ description: 'Named by vms.pools.' }),
  name: Type.Optional(Text(200, { description: 'What messages call the pool; the id when absent.' })),
  url: PoolUrl,
  user: Type.Optional(Text(100, { default: 'root' })),
  password: Type.Optional(
    Text(1000, { description: 'Discouraged in files: STRATA_XAPI_PASSWORD is used when absent.' }),
  ),
  fingerprint: Type.Optional(Fingerprint),
  insecureHttp: Type.Optional(InsecureHttp),
})
export type PoolConnection = Static<typeof PoolConnection>

export const RepositoryTarget = Strict({
  name: Id(),
  location: Text(1000, { description: 'A path or an s3:// URL (docs/storage.md).' }),
})
export type RepositoryTarget = Static<typeof RepositoryTarget>

const scheduleProperties = {
  id: Id(),
  name: Type.Optional(Text(100)),
  cron: Type.Optional(Text(100, { description: 'For the server; the CLI runs a schedule on demand.' })),
  timezone: Type.Optional(Text(100, { default: 'UTC' })),
  retention: Type.Optional(Retention),
  snapshotRetention: Type.Optional(Count({ maximum: 1000, default: 1 })),
  fullInterval: Type.Optional(Count({ description: "Overrides the job's fullInterval for this schedule." })),
  healthCheck: Type.Optional(HealthCheck),
}
export const FileSchedule = Strict(scheduleProperties)
export type FileSchedule = Static<typeof FileSchedule>

/** The VMs of a job file: a list of names or uuids, or smart rules. */
export const FileVms = Type.Union([List(Text(200), 1000, { minItems: 1 }), FileSmartRules], {
  description: 'a list of VM names or uuids, or smart rules (an object)',
})
export type FileVms = Static<typeof FileVms>

const jobFileProperties = {
  id: Id({ description: 'Names the lock, the state and the runs of the job.' }),
  name: Type.Optional(Text(200)),
  kind: Type.Optional(CloneType(JobKind, { default: 'backup' })),
  // At least one, except for a mirror job (repositories only): checked in validate.ts.
  pools: List(PoolConnection, 50),
  vms: FileVms,
  repositories: Type.Optional(
    List(RepositoryTarget, 20, {
      description:
        'Where a backup job writes (at least one; none for replication); the one a mirror job copies from.',
    }),
  ),
  mirrorTo: Type.Optional(
    List(RepositoryTarget, 20, { description: 'The repositories a mirror job copies to (at least one).' }),
  ),
  targets: Type.Optional(
    CloneType(ReplicationTargets, { description: 'The SRs a replication job copies to (at least one).' }),
  ),
  settings: Type.Optional(JobSettings),
  schedules: Type.Optional(List(FileSchedule, 50)),
}
export const JobFile = Strict(jobFileProperties)
export type JobFile = Static<typeof JobFile>

/** The same, with the old spellings still accepted (documentation of what a file may hold). */
export const JobFileAccepted = Strict({
  ...jobFileProperties,
  vms: Type.Union([List(Text(200), 1000, { minItems: 1 }), FileSmartRulesAccepted]),
  schedules: Type.Optional(
    List(Strict({ ...scheduleProperties, retention: Type.Optional(RetentionAccepted) }), 50),
  ),
  mode: Deprecated(Mode, 'settings.mode'),
})
