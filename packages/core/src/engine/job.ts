// A backup job: which VMs (an explicit list or smart rules), which repositories, how (settings) and when
// (schedules, each with its own retention and optional forced full). Jobs come from JSON files written by
// people, so everything is validated here with messages that name the field; nothing else re-checks.
import { StrataError } from '../shared/index.js'
import type { RetentionPolicy } from '../retention/index.js'
import { parseFingerprint } from '../xapi/index.js'

export class JobError extends StrataError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('INVALID_JOB', message, options)
  }
}

export interface PoolConnection {
  readonly id: string
  readonly url: string
  readonly user: string
  /** Discouraged in files: STRATA_XAPI_PASSWORD is used when absent. */
  readonly password?: string
  /** SHA-256 fingerprint of the certificate of the host `url` names (needed for https://). */
  readonly fingerprint?: string
  /** Allows an http:// url: passwords and session ids in clear text. */
  readonly insecureHttp?: boolean
}

export interface RepositoryTarget {
  readonly name: string
  /** A path or an s3://… URL (see docs/storage.md); STRATA_PASSPHRASE opens an encrypted one. */
  readonly location: string
}

export type VmSelection =
  | { readonly kind: 'explicit'; readonly vms: readonly string[] }
  | {
      readonly kind: 'smart'
      /** Pool ids (as in `pools`); empty = every pool of the job. */
      readonly pools: readonly string[]
      /** A VM matches when it has at least one of these tags; empty = any VM. */
      readonly tags: readonly string[]
      readonly powerState?: 'Running' | 'Halted'
      readonly excludeVms: readonly string[]
      readonly excludeTags: readonly string[]
    }

export interface JobSettings {
  readonly mode: 'delta' | 'full'
  /** A full backup every N runs of a VM (0 = never forced). */
  readonly fullInterval: number
  readonly offline: boolean
  readonly withMemory: boolean
  readonly preferNbd: boolean
  readonly nbdConnections?: number
  readonly maxBytesPerSecond?: number
  /** VMs backed up at once (0 = all). */
  readonly vmConcurrency: number
  /** A run still going after this is aborted (0 = no limit). */
  readonly timeoutMs: number
  /** Further attempts for a VM whose backup failed. */
  readonly retries: number
  readonly changedBlocks?: 'auto' | 'cbt' | 'vhd-bat' | 'vhd-stream' | 'full'
}

export interface Schedule {
  readonly id: string
  readonly name?: string
  /** For the scheduler (server); the CLI runs a schedule on demand. */
  readonly cron?: string
  readonly timezone: string
  /** Restore points kept per VM for this schedule; none = keep all. */
  readonly retention?: RetentionPolicy
  readonly snapshotRetention: number
  /** Overrides the job's fullInterval for runs of this schedule. */
  readonly fullInterval?: number
}

export interface Job {
  readonly id: string
  readonly name: string
  readonly pools: readonly PoolConnection[]
  readonly vms: VmSelection
  readonly repositories: readonly RepositoryTarget[]
  readonly settings: JobSettings
  readonly schedules: readonly Schedule[]
}

/** The tag that keeps a VM out of every smart selection (the part before '=' counts: 'strata:no-bak=why'). */
export const NO_BACKUP_TAG = 'strata:no-bak'

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function parseJob(value: unknown, source = 'job'): Job {
  const o = new Fields(value, source)
  const id = o.id('id')
  const pools = o.list('pools', (p, w) => parsePool(p, w))
  if (pools.length === 0) throw new JobError(`${source}: 'pools' needs at least one pool`)
  unique(
    pools.map((p) => p.id),
    `${source}.pools`,
  )
  const repositories = o.list('repositories', (r, w) => parseRepository(r, w))
  if (repositories.length === 0) throw new JobError(`${source}: 'repositories' needs at least one repository`)
  unique(
    repositories.map((r) => r.name),
    `${source}.repositories`,
  )
  const vms = parseSelection(o.raw('vms'), `${source}.vms`, new Set(pools.map((p) => p.id)))
  const schedules = o.optionalList('schedules', (s, w) => parseSchedule(s, w))
  unique(
    schedules.map((s) => s.id),
    `${source}.schedules`,
  )
  o.done(['name', 'settings'])
  return {
    id,
    name: o.optionalString('name') ?? id,
    pools,
    vms,
    repositories,
    settings: parseSettings(o.raw('settings') ?? {}, `${source}.settings`),
    schedules,
  }
}

function parsePool(value: unknown, what: string): PoolConnection {
  const o = new Fields(value, what)
  const url = o.string('url')
  if (!/^https?:\/\/[^/]+\/?$/.test(url))
    throw new JobError(`${what}.url: '${url}' is not http(s)://host[:port]`)
  const fingerprint = o.optionalString('fingerprint')
  const insecureHttp = o.optionalBoolean('insecureHttp')
  const pool = {
    id: o.id('id'),
    url,
    user: o.optionalString('user') ?? 'root',
    password: o.optionalString('password'),
    ...(fingerprint === undefined
      ? {}
      : { fingerprint: poolFingerprint(fingerprint, `${what}.fingerprint`) }),
    ...(insecureHttp === undefined ? {} : { insecureHttp }),
  }
  o.done()
  return pool
}

function poolFingerprint(value: string, what: string): string {
  try {
    return parseFingerprint(value)
  } catch (cause) {
    throw new JobError(`${what}: ${(cause as Error).message}`, { cause })
  }
}

function parseRepository(value: unknown, what: string): RepositoryTarget {
  const o = new Fields(value, what)
  const target = { name: o.id('name'), location: o.string('location') }
  o.done()
  return target
}

function parseSelection(value: unknown, what: string, poolIds: ReadonlySet<string>): VmSelection {
  if (Array.isArray(value)) {
    const vms = value.map((v, i) => nonEmptyString(v, `${what}[${i}]`))
    if (vms.length === 0) throw new JobError(`${what}: the explicit list is empty`)
    return { kind: 'explicit', vms }
  }
  const o = new Fields(value, `${what} (a list of VMs or smart rules)`)
  const pools = o.optionalStrings('pools')
  for (const p of pools) if (!poolIds.has(p)) throw new JobError(`${what}.pools: no pool '${p}' in the job`)
  const power = o.optionalString('powerState')
  if (power !== undefined && power !== 'Running' && power !== 'Halted')
    throw new JobError(`${what}.powerState: 'Running' or 'Halted', not '${power}'`)
  const selection = {
    kind: 'smart' as const,
    pools,
    tags: o.optionalStrings('tags'),
    powerState: power as 'Running' | 'Halted' | undefined,
    excludeVms: o.optionalStrings('excludeVms'),
    excludeTags: o.optionalStrings('excludeTags'),
  }
  o.done()
  return selection
}

function parseSettings(value: unknown, what: string): JobSettings {
  const o = new Fields(value, what)
  const mode = o.optionalString('mode') ?? 'delta'
  if (mode !== 'delta' && mode !== 'full')
    throw new JobError(`${what}.mode: 'delta' or 'full', not '${mode}'`)
  const paths = ['auto', 'cbt', 'vhd-bat', 'vhd-stream', 'full']
  const changedBlocks = o.optionalString('changedBlocks')
  if (changedBlocks !== undefined && !paths.includes(changedBlocks))
    throw new JobError(`${what}.changedBlocks: one of ${paths.join(', ')}`)
  const nbdConnections = o.optionalCount('nbdConnections')
  if (nbdConnections === 0) throw new JobError(`${what}.nbdConnections: at least 1`)
  const settings: JobSettings = {
    mode,
    fullInterval: o.optionalCount('fullInterval') ?? 0,
    offline: o.optionalBoolean('offline') ?? false,
    withMemory: o.optionalBoolean('withMemory') ?? false,
    preferNbd: o.optionalBoolean('preferNbd') ?? true,
    nbdConnections,
    maxBytesPerSecond: o.optionalCount('maxBytesPerSecond') || undefined,
    vmConcurrency: o.optionalCount('vmConcurrency') ?? 2,
    timeoutMs: parseDuration(o.raw('timeout') ?? 0, `${what}.timeout`),
    retries: o.optionalCount('retries') ?? 0,
    changedBlocks: changedBlocks as JobSettings['changedBlocks'],
  }
  if (settings.offline && settings.withMemory)
    throw new JobError(`${what}: 'offline' and 'withMemory' exclude each other (a halted VM has no memory)`)
  o.done(['timeout'])
  return settings
}

function parseSchedule(value: unknown, what: string): Schedule {
  const o = new Fields(value, what)
  const timezone = o.optionalString('timezone') ?? 'UTC'
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone })
  } catch (cause) {
    throw new JobError(`${what}.timezone: unknown time zone '${timezone}'`, { cause })
  }
  const schedule: Schedule = {
    id: o.id('id'),
    name: o.optionalString('name'),
    cron: o.optionalString('cron'),
    timezone,
    retention: parseRetention(o.raw('retention'), `${what}.retention`),
    snapshotRetention: o.optionalCount('snapshotRetention') ?? 1,
    fullInterval: o.optionalCount('fullInterval'),
  }
  o.done(['retention'])
  return schedule
}

function parseRetention(value: unknown, what: string): RetentionPolicy | undefined {
  if (value === undefined) return undefined
  const o = new Fields(value, what)
  const policy = {
    keepLast: o.optionalCount('keepLast'),
    daily: o.optionalCount('daily'),
    weekly: o.optionalCount('weekly'),
    monthly: o.optionalCount('monthly'),
    yearly: o.optionalCount('yearly'),
  }
  o.done()
  if (!Object.values(policy).some((n) => (n ?? 0) > 0))
    throw new JobError(`${what}: keeps nothing; give keepLast or a period rule above 0 (or no retention)`)
  return policy
}

/** 90 (seconds), '90s', '30m', '2h', '1d' → milliseconds. */
export function parseDuration(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(value.trim()) : null
  if (m === null) throw new JobError(`${what}: '${String(value)}' is not a duration (e.g. 90, '30m', '2h')`)
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's']
  return Number(m[1]) * unit * 1000
}

function unique(ids: string[], what: string): void {
  const seen = new Set<string>()
  for (const id of ids) {
    if (seen.has(id)) throw new JobError(`${what}: '${id}' appears twice`)
    seen.add(id)
  }
}

function nonEmptyString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new JobError(`${what}: a non-empty string`)
  return value
}

/** Reads fields of one JSON object, remembering which were used so that typos are reported. */
class Fields {
  readonly #o: Record<string, unknown>
  readonly #used = new Set<string>()

  constructor(
    value: unknown,
    readonly what: string,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new JobError(`${what}: an object`)
    this.#o = value as Record<string, unknown>
  }

  raw(key: string): unknown {
    this.#used.add(key)
    return this.#o[key]
  }

  string(key: string): string {
    return nonEmptyString(this.raw(key), `${this.what}.${key}`)
  }

  id(key: string): string {
    const v = this.string(key)
    if (!ID.test(v)) throw new JobError(`${this.what}.${key}: '${v}' (letters, digits, '.', '_', '-')`)
    return v
  }

  optionalString(key: string): string | undefined {
    return this.raw(key) === undefined ? undefined : this.string(key)
  }

  optionalStrings(key: string): string[] {
    const v = this.raw(key)
    if (v === undefined) return []
    if (!Array.isArray(v)) throw new JobError(`${this.what}.${key}: a list of strings`)
    return v.map((s, i) => nonEmptyString(s, `${this.what}.${key}[${i}]`))
  }

  optionalBoolean(key: string): boolean | undefined {
    const v = this.raw(key)
    if (v !== undefined && typeof v !== 'boolean') throw new JobError(`${this.what}.${key}: true or false`)
    return v
  }

  optionalCount(key: string): number | undefined {
    const v = this.raw(key)
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0))
      throw new JobError(`${this.what}.${key}: a whole number ≥ 0, not ${JSON.stringify(v)}`)
    return v
  }

  list<T>(key: string, parse: (value: unknown, what: string) => T): T[] {
    const v = this.raw(key)
    if (!Array.isArray(v)) throw new JobError(`${this.what}.${key}: a list`)
    return v.map((item, i) => parse(item, `${this.what}.${key}[${i}]`))
  }

  optionalList<T>(key: string, parse: (value: unknown, what: string) => T): T[] {
    return this.raw(key) === undefined ? [] : this.list(key, parse)
  }

  /** Rejects keys nobody read: a misspelt setting must not be silently ignored. */
  done(alsoKnown: string[] = []): void {
    for (const key of alsoKnown) this.#used.add(key)
    const unknown = Object.keys(this.#o).filter((k) => !this.#used.has(k))
    if (unknown.length > 0) throw new JobError(`${this.what}: unknown field '${unknown[0]}'`)
  }
}
