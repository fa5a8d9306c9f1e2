// How a replica says what it is, on the target pool: the other_config keys Xen Orchestra writes on its
// replicas (xo-backups.md §3.4), so that XO and Strata recognise each other's, and Strata's own (the run
// that made it, its mode, whether it holds memory, and a marker while it is being written). A replica VM
// and its restore points (snapshots of it) carry the same keys; their VDIs carry them too, with the
// source disk they copy (`xo:copy_of`) and the source snapshot whose bytes they hold (`contentKey`).
import type { XapiRecord } from '../../xapi/index.js'

export const XO = {
  datetime: 'xo:backup:datetime',
  job: 'xo:backup:job',
  schedule: 'xo:backup:schedule',
  vm: 'xo:backup:vm',
  sr: 'xo:backup:sr',
  copyOf: 'xo:copy_of',
  contentKey: 'xo:backup:contentKey',
} as const

export const REPLICA = {
  run: 'strata:replica:run',
  mode: 'strata:replica:mode',
  memory: 'strata:replica:memory',
  /** Set while the replica is being written (the run id): a leftover of a failed or killed attempt. */
  pending: 'strata:replica:pending',
  /** The target SR from the start (XO's `xo:backup:sr` is written only once the replica is complete). */
  target: 'strata:replica:sr',
  /** The source VM's name when it was replicated (listings). */
  vmName: 'strata:replica:vm-name',
  /** When a failover started it: a production VM now, which runs never remove nor replace. */
  failover: 'strata:replica:failover',
  /**
   * When the replica was written (ISO, milliseconds): orders two runs whose snapshots fall in the same
   * second, which XO's datetime (seconds) cannot.
   */
  madeAt: 'strata:replica:made-at',
} as const

/** The tags XO gives replicas: continuous replication (delta) and disaster recovery (full). */
export const REPLICA_TAG = { delta: 'Continuous Replication', full: 'Disaster Recovery' } as const

/** Why `start` is blocked on a replica: what the admin should do instead. */
export const START_BLOCKED =
  'This is a replica: start it with a failover (strata replicate failover, or the UI), or clone it and start the clone'

export type ReplicationMode = 'delta' | 'full'

/** What the keys of a replica VM, restore point or VDI say. */
export interface ReplicaKeys {
  readonly jobId: string
  readonly scheduleId: string
  readonly vmUuid: string
  /** The target SR; absent until the replica is complete (XO adds it last too). */
  readonly srUuid?: string
  /** When the source was snapshotted, as XO writes it (20261207T02:00:00Z). */
  readonly datetime: string
  readonly runId?: string
  /** When Strata wrote it (ISO, milliseconds); absent on XO's replicas. */
  readonly madeAt?: string
  readonly mode?: ReplicationMode
  readonly memory: boolean
  readonly pending?: string
  readonly vmName?: string
  readonly failedOver?: string
}

type Config = Record<string, string>
const configOf = (record: XapiRecord): Config => (record.other_config ?? {}) as Config

/** The keys of an object made by a replication (Strata's or XO's), else undefined. */
export function replicaKeys(record: XapiRecord): ReplicaKeys | undefined {
  const oc = configOf(record)
  const jobId = oc[XO.job]
  const vmUuid = oc[XO.vm]
  if (jobId === undefined || vmUuid === undefined) return undefined
  // A backup snapshot of XO carries these keys too, but is never of a copy: replicas name their source.
  if (oc[XO.copyOf] === undefined && oc[REPLICA.run] === undefined) return undefined
  const mode = oc[REPLICA.mode]
  return {
    jobId,
    scheduleId: oc[XO.schedule] ?? '',
    vmUuid,
    ...(oc[XO.sr] === undefined ? {} : { srUuid: oc[XO.sr] }),
    datetime: oc[XO.datetime] ?? '',
    ...(oc[REPLICA.run] === undefined ? {} : { runId: oc[REPLICA.run] }),
    ...(oc[REPLICA.madeAt] === undefined ? {} : { madeAt: oc[REPLICA.madeAt] }),
    ...(mode === 'delta' || mode === 'full' ? { mode } : {}),
    memory: oc[REPLICA.memory] === 'true',
    ...(oc[REPLICA.pending] === undefined ? {} : { pending: oc[REPLICA.pending] }),
    ...(oc[REPLICA.vmName] === undefined ? {} : { vmName: oc[REPLICA.vmName] }),
    ...(oc[REPLICA.failover] === undefined ? {} : { failedOver: oc[REPLICA.failover] }),
  }
}

/** XO's date format for `xo:backup:datetime` (UTC, seconds). */
export function xoDateTime(date: Date): string {
  const iso = date.toISOString()
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 19)}Z`
}

/** '20261207T02:00:00Z' (XO's `xo:backup:datetime`, XAPI's dates) → a Date; unreadable: the epoch. */
export function parseReplicaTime(text: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2}:\d{2}:\d{2})Z$/.exec(text)
  return m === null ? new Date(0) : new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}Z`)
}

/** The name of a replica: its source's, with the job and the time of the run. */
export function replicaName(source: string, jobName: string, date: Date): string {
  return `${source} - ${jobName} (${date.toISOString().slice(0, 16).replace('T', ' ')} UTC)`
}

/** Sets `keys` in an object's other_config (merged with what it holds; undefined values removed). */
export async function setKeys(
  xapi: { call<T>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> },
  cls: 'VM' | 'VDI',
  ref: string,
  keys: Readonly<Record<string, string | undefined>>,
  signal?: AbortSignal,
): Promise<void> {
  const current = (await xapi.call<Config>(`${cls}.get_other_config`, [ref], signal)) ?? {}
  const next: Config = { ...current }
  for (const [k, v] of Object.entries(keys)) {
    if (v === undefined) delete next[k]
    else next[k] = v
  }
  await xapi.call(`${cls}.set_other_config`, [ref, next], signal)
}
