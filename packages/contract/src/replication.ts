// The parts of a replication job (docs/replication.md) and of health checks, shared by job files and the
// API. A job's `kind` says what its runs make: restore points in repositories ('backup', the default) or
// replicas on SRs of any connected pool ('replication': `settings.mode` delta is XO's continuous
// replication, full its disaster recovery). A schedule may add a health check of what each run made.
import { CloneType, Type, type Static } from '@sinclair/typebox'
import { Duration } from './job-parts.js'
import { Id, List, Names, Strict, Text } from './schema-helpers.js'

export const JobKind = Type.Union(
  [Type.Literal('backup'), Type.Literal('replication'), Type.Literal('mirror'), Type.Literal('metadata')],
  {
    description:
      "What a run makes: restore points in repositories ('backup'), replicas on SRs ('replication'), " +
      "copies of a repository's points in others ('mirror', docs/mirror.md), or metadata points " +
      "(pool databases and the server's configuration, docs/metadata-backups.md).",
  },
)
export type JobKind = Static<typeof JobKind>

/** Source network uuid → target network uuid, for the replica's VIFs. */
export const NetworkMap = Type.Record(Text(100), Text(100), {
  maxProperties: 100,
  description: 'Source network uuid → target network uuid (else the same uuid, the same name, any network).',
})
export type NetworkMap = Static<typeof NetworkMap>

export const ReplicationTarget = Strict({
  pool: Id({ description: 'The pool (as the job names it) that holds the SR.' }),
  sr: Text(100, { description: 'The uuid of the SR the replicas go to.' }),
  networks: Type.Optional(NetworkMap),
})
export type ReplicationTarget = Static<typeof ReplicationTarget>

/** How long a health check waits for the guest by default (XO's healthCheckTimeout). */
export const HEALTH_CHECK_TIMEOUT = '10m'

export const HealthCheck = Strict(
  {
    sr: Type.Optional(
      Text(200, {
        description:
          'SR (uuid or name) the point is restored to for the check (backups; required there). ' +
          "A replication job boots a clone of the new replica on the replica's SR.",
      }),
    ),
    pool: Type.Optional(
      Id({ description: "The pool of that SR when the job has several (default the VM's)." }),
    ),
    tags: Type.Optional(Names({ description: 'Only VMs with one of these tags are checked; empty = all.' })),
    timeout: Type.Optional(CloneType(Duration, { default: HEALTH_CHECK_TIMEOUT })),
    guestCheck: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Also wait for the result a check script in the guest writes (vm-data/xo-backup-health-check = 'success' or 'failure').",
      }),
    ),
  },
  { description: 'Boot what each run made, without network, and wait until its guest reports.' },
)
export type HealthCheck = Static<typeof HealthCheck>

export const ReplicationTargets = List(ReplicationTarget, 20)
