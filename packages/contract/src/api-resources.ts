// The HTTP API's other resources (docs/api.md): errors, accounts, pools, repositories and their restore
// points, restores, settings and the overview. Request shapes are strict; responses list what clients
// may rely on. Times are milliseconds since the epoch.
import { Type, type Static } from '@sinclair/typebox'
import { InsecureHttp, PoolUrl } from './job-file.js'
import { Count, Strict, Text } from './schema-helpers.js'

export const IdParams = Strict({ id: Text(100) })

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
})
export type ApiErrorBody = Static<typeof ErrorBody>

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('read-only')])
export type Role = Static<typeof Role>

export const User = Type.Object({
  id: Type.String(),
  username: Type.String(),
  role: Role,
  totp: Type.Optional(Type.Boolean()),
})
export type User = Static<typeof User>

/** `GET /api/health`, the one route (with the login) open without a session or a token. */
export const Health = Type.Object({ status: Type.Literal('ok') })
export type Health = Static<typeof Health>

export const LoginInput = Strict({
  username: Text(100),
  password: Text(1000),
  totp: Type.Optional(Type.String({ maxLength: 16 })),
})
export type LoginInput = Static<typeof LoginInput>
export const PasswordChange = Strict({ current: Text(1000), password: Text(1000, { minLength: 8 }) })
export type PasswordChange = Static<typeof PasswordChange>
export const TotpCode = Strict({ code: Text(16) })
export type TotpCode = Static<typeof TotpCode>

/** An API token lives this many days unless its creator says otherwise, and at most TOKEN_MAX_DAYS. */
export const TOKEN_DEFAULT_DAYS = 90
export const TOKEN_MAX_DAYS = 366
export const TokenInput = Strict({
  name: Text(100),
  expiresInDays: Type.Optional(
    Type.Integer({ minimum: 1, maximum: TOKEN_MAX_DAYS, default: TOKEN_DEFAULT_DAYS }),
  ),
})
export type TokenInput = Static<typeof TokenInput>
export const UserInput = Strict({
  username: Text(100, { pattern: '^[A-Za-z0-9._@-]+$' }),
  password: Text(1000, { minLength: 8 }),
  role: Role,
})
export const UserPatch = Strict({
  password: Type.Optional(Text(1000, { minLength: 8 })),
  role: Type.Optional(Role),
})

export const ApiToken = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created: Type.Number(),
  expires: Type.Number(),
  lastUsed: Type.Optional(Type.Number({ description: 'Noted at most once a minute.' })),
  revoked: Type.Optional(
    Type.Number({ description: 'When it was revoked (listed for a month, then gone).' }),
  ),
})
export type ApiToken = Static<typeof ApiToken>
/** `POST /api/me/tokens` → 201: the token itself is shown this once, never again. */
export const NewApiToken = Type.Composite([ApiToken, Type.Object({ token: Type.String() })])
export type NewApiToken = Static<typeof NewApiToken>

const poolInputProperties = {
  name: Text(100),
  url: PoolUrl,
  username: Type.Optional(Text(100)),
  password: Text(1000, { description: 'Write-only: stored sealed, never returned.' }),
  // Any form people paste (the server's parseFingerprint judges it: 400 INVALID_FINGERPRINT).
  fingerprint: Type.Optional(
    Text(200, {
      description:
        "SHA-256 fingerprint of the certificate of the URL's host, accepted by an admin; stored in " +
        "canonical form (upper-case hex pairs joined by ':').",
    }),
  ),
  insecureHttp: Type.Optional(InsecureHttp),
}
export const PoolInput = Strict(poolInputProperties)
export type PoolInput = Static<typeof PoolInput>
export const PoolPatch = Type.Partial(PoolInput)
export type PoolPatch = Static<typeof PoolPatch>

/** What a host presented: enough for an admin to compare it with the host's own answer. */
export const SeenCertificate = Type.Object({
  fingerprint: Type.String({ description: "SHA-256, upper-case hex pairs joined by ':'." }),
  subject: Type.String(),
  validFrom: Type.String(),
  validTo: Type.String(),
})
export type SeenCertificate = Static<typeof SeenCertificate>

/** A certificate the server refused: the pinned fingerprint (none on a first contact) and the one seen. */
export const CertificateProblem = Type.Object({
  host: Type.String(),
  expected: Type.Optional(Type.String()),
  seen: Type.Optional(SeenCertificate),
  check: Type.String({ description: "The command that prints the host's fingerprint, on the host." }),
})
export type CertificateProblem = Static<typeof CertificateProblem>

/** `POST /api/pools/probe`: the certificate a host presents, read without sending it anything. */
export const PoolProbeInput = Strict({ url: PoolUrl })
export const PoolProbe = Type.Intersect([
  SeenCertificate,
  Type.Object({ url: Type.String(), check: CertificateProblem.properties.check }),
])
export type PoolProbe = Static<typeof PoolProbe>

export const Pool = Type.Object({
  id: Type.String(),
  name: Type.String(),
  url: Type.String(),
  username: Type.String(),
  fingerprint: Type.Optional(
    Type.String({ description: "The accepted certificate fingerprint of the URL's host." }),
  ),
  insecureHttp: Type.Boolean({ description: 'Plain HTTP allowed (passwords and sessions in clear text).' }),
  connected: Type.Boolean(),
  error: Type.Optional(Type.String()),
  errorCode: Type.Optional(Type.String()),
  certificate: Type.Optional(CertificateProblem),
  nextAttempt: Type.Optional(
    Type.Number({ description: 'When the next attempt to connect is due (ms), while not connected.' }),
  ),
})
export type Pool = Static<typeof Pool>

export const POOL_OBJECT_TYPES = ['VM', 'SR', 'network', 'host'] as const
export type PoolObjectType = (typeof POOL_OBJECT_TYPES)[number]
export const PoolObjectsQuery = Strict({ type: Type.Union(POOL_OBJECT_TYPES.map((t) => Type.Literal(t))) })

export const PoolObject = Type.Intersect([
  Type.Object({
    uuid: Type.String(),
    name_label: Type.String(),
    power_state: Type.Optional(Type.String()),
    tags: Type.Optional(Type.Array(Type.String())),
    is_default: Type.Optional(Type.Boolean()),
  }),
  Type.Record(Type.String(), Type.Unknown()),
])
export type PoolObject = Static<typeof PoolObject>

const repositoryInputProperties = {
  name: Text(100),
  location: Text(1000, { description: 'A path or an s3:// URL (docs/storage.md).' }),
  passphrase: Type.Optional(Text(1000, { description: 'Write-only.' })),
  s3: Type.Optional(Strict({ accessKeyId: Text(200), secretAccessKey: Text(200) })),
  force: Type.Optional(
    Type.Boolean({
      description: 'Keep a passphrase shorter than 10 characters (otherwise 400 WEAK_PASSPHRASE).',
    }),
  ),
}
export const RepositoryInput = Strict({
  ...repositoryInputProperties,
  init: Type.Optional(Type.Boolean({ description: 'Create the repository when there is none.' })),
  agentId: Type.Optional(
    Text(100, {
      description:
        "The agent that alone opens it (docs/agents.md): the location is the agent's, it creates or opens it.",
    }),
  ),
})
export type RepositoryInput = Static<typeof RepositoryInput>
export const RepositoryPatch = Type.Partial(
  Strict({
    ...repositoryInputProperties,
    acceptConfig: Type.Boolean({
      description:
        'Record the repository as it is now (one re-created on purpose), instead of refusing a ' +
        'configuration changed since it was recorded (409 REPOSITORY_CONFIG_CHANGED).',
    }),
  }),
)
export type RepositoryPatch = Static<typeof RepositoryPatch>

/** What the server found in a repository when it was added, compared at every open (docs/security.md). */
export const RepositoryIdentity = Type.Object({
  id: Type.String(),
  encryption: Type.Union([Type.Literal('none'), Type.Literal('aes-256-gcm')]),
  fingerprint: Type.String({ description: 'Hex SHA-256 of the canonical config.' }),
  sealed: Type.Boolean({ description: 'An encrypted repository whose config seal was checked.' }),
})
export type RepositoryIdentity = Static<typeof RepositoryIdentity>

export const LockedUsage = Type.Object(
  { points: Type.Number(), chunks: Type.Number(), bytes: Type.Number() },
  { description: 'Immutable repositories: what no delete can free yet (points, chunks and their bytes).' },
)
export const RepositoryUsage = Type.Object({
  bytes: Type.Number(),
  chunks: Type.Number(),
  locked: Type.Optional(LockedUsage),
})
export type RepositoryUsage = Static<typeof RepositoryUsage>
/** Usage is measured in the background: `null` with `measuring: true` until the first measure ends. */
export const UsageState = {
  usage: Type.Union([RepositoryUsage, Type.Null()], {
    description: 'null: not measured yet (never shown as 0 B).',
  }),
  measuring: Type.Boolean({ description: 'A measure is running now.' }),
}
export const SeenPoint = Type.Object({ pointId: Type.String(), vm: Type.String(), time: Type.Number() })
/** docs/immutability.md, "Rollback detection": raised until an admin acknowledges it. */
export const RollbackWarning = Type.Object({
  message: Type.String(),
  vanished: Type.Array(SeenPoint, {
    description: 'Points that vanished behind the server (the first ones).',
  }),
  count: Type.Optional(Type.Number({ description: 'How many vanished, when more than listed.' })),
  newestRecorded: Type.Optional(SeenPoint),
  detected: Type.Number(),
})
export type RollbackWarning = Static<typeof RollbackWarning>
export const Repository = Type.Object({
  id: Type.String(),
  name: Type.String(),
  location: Type.String(),
  encrypted: Type.Boolean(),
  identity: Type.Optional(RepositoryIdentity),
  agentId: Type.Optional(Type.String({ description: 'The agent it is assigned to: only it opens it.' })),
  ...UsageState,
  rollback: Type.Optional(RollbackWarning),
})
export type Repository = Static<typeof Repository>

export const RepositoryVm = Type.Object({ vmUuid: Type.String(), name: Type.String(), points: Type.Number() })
export type RepositoryVm = Static<typeof RepositoryVm>

export const PointsQuery = Strict({
  vm: Type.Optional(
    Text(200, { description: 'A VM by uuid or by name (a name several VMs had lists all of them).' }),
  ),
})
export const PointDisk = Type.Object({
  name: Type.String(),
  size: Type.Number({ description: 'bytes' }),
  newBytes: Type.Optional(Type.Number({ description: 'Stored bytes this disk added to the repository.' })),
})
export type PointDisk = Static<typeof PointDisk>
export const PointKind = Type.Union(
  [Type.Literal('full'), Type.Literal('delta'), Type.Literal('unknown'), Type.Literal('metadata')],
  {
    description:
      "'unknown' for points written before Strata recorded it; 'metadata' for a metadata job's (files).",
  },
)
export type PointKind = Static<typeof PointKind>
export const RestorePoint = Type.Object({
  id: Type.String(),
  ref: Type.Optional(Type.String({ description: "'<vm>/<point id>', what the CLI takes." })),
  time: Type.Number(),
  vmName: Type.String(),
  vmUuid: Type.Optional(Type.String()),
  disks: Type.Array(PointDisk),
  size: Type.Number(),
  newBytes: Type.Optional(
    Type.Number({
      description: 'Stored bytes the point added to the repository (chunks no earlier point had).',
    }),
  ),
  kind: Type.Optional(PointKind),
  jobId: Type.Optional(Type.String()),
  jobName: Type.Optional(Type.String({ description: 'While the job exists.' })),
  scheduleId: Type.Optional(Type.String()),
  scheduleName: Type.Optional(Type.String({ description: 'While the schedule exists and has a name.' })),
  protected: Type.Optional(
    Type.Boolean({ description: 'Kept by retention; deletes are refused (409 POINT_PROTECTED).' }),
  ),
  lockedUntil: Type.Optional(
    Type.Number({ description: 'Immutable repositories: nobody can delete the point before this time.' }),
  ),
})
export type RestorePoint = Static<typeof RestorePoint>

export const RestoreInput = Strict({
  repositoryId: Text(100),
  pointId: Text(200),
  kind: Type.Union([Type.Literal('vm'), Type.Literal('disk')]),
  poolId: Text(100),
  srUuid: Text(100),
  disk: Type.Optional(Count({ maximum: 999 })),
  start: Type.Optional(Type.Boolean()),
  differential: Type.Optional(
    Type.Boolean({
      description:
        "kind 'vm' only: onto the point's own VM (halted, same disks), rewriting only what differs; no new VM",
    }),
  ),
})
export type RestoreInput = Static<typeof RestoreInput>
/** `GET /api/restores/differential`: can this point be restored onto its own VM, rewriting what differs? */
export const DifferentialQuery = Strict({ repositoryId: Text(100), pointId: Text(200), poolId: Text(100) })
export type DifferentialQuery = Static<typeof DifferentialQuery>
export const DifferentialCheck = Type.Object({
  possible: Type.Boolean(),
  vmUuid: Type.Optional(Type.String()),
  vmName: Type.Optional(Type.String()),
  /** Why not: VM_NOT_FOUND, VM_NOT_HALTED, VM_DISKS_CHANGED, DISK_SIZE_MISMATCH, NOT_A_VM_POINT. */
  code: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
})
export type DifferentialCheck = Static<typeof DifferentialCheck>
export const PointParams = Strict({ id: Text(100), pointId: Text(200) })
/** `POST/DELETE /api/repositories/:id/points/:pointId/protection` → the point's protection now. */
export const PointProtection = Type.Object({ pointId: Type.String(), protected: Type.Boolean() })
export type PointProtection = Static<typeof PointProtection>
export const DiskParams = Strict({
  id: Text(100),
  pointId: Text(200),
  n: Type.String({ pattern: '^[0-9]{1,3}$' }),
})

export const ClockCheck = Type.Object({
  offsetMs: Type.Number(),
  checked: Type.Number(),
  source: Type.Optional(Type.String()),
  warning: Type.Optional(Type.String()),
})
export type ClockCheck = Static<typeof ClockCheck>
const RestoreTag = Type.String({
  maxLength: 100,
  description: "The tag restores give the VMs they create ('' = none); smart selections leave them out.",
})
export const Settings = Type.Object({
  syslog: Type.Optional(Type.String()),
  restoreTag: Type.Optional(
    Type.String({ description: "Absent while it is the default, 'restored from backup'; '' = none." }),
  ),
  clock: Type.Optional(ClockCheck),
})
export type Settings = Static<typeof Settings>
export const SettingsPatch = Strict({
  syslog: Type.Optional(Type.Union([Type.String({ maxLength: 300, pattern: '^(udp|tcp)://' }), Type.Null()])),
  restoreTag: Type.Optional(
    Type.Union([RestoreTag, Type.Null()], { description: 'null restores the default.' }),
  ),
})
export type SettingsPatch = Static<typeof SettingsPatch>
