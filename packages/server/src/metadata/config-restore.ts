// `strata server restore-config`: a configuration a metadata job stored (config-export.ts) written into
// a fresh server's data directory, before that server's first start. Ids are kept, so the jobs name
// their pools and repositories as before. Nothing secret was stored: pools get an empty password and
// repositories no passphrase (the admin enters them again, docs/metadata-backups.md), and each user a
// new random password that only the caller sees. All or nothing: a failure leaves the directory as it was.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { checkJobInput, completeJob, formatProblem } from '@strata/contract'
import { StrataError } from '@strata/core'
import { PasswordHasher } from '../auth/password-hasher.js'
import { ROLES } from '../auth/users.js'
import { loadConfig, type ConfigOverrides } from '../config.js'
import { openDatabase, type Db } from '../db/database.js'
import { newId } from '../ids.js'
import { JobStore } from '../jobs/job-store.js'
import { SecretBox } from '../secret-box.js'
import { poolPasswordField } from '../secret-fields.js'
import { CONFIG_FORMAT, CONFIG_VERSION, type ConfigExport } from './config-export.js'

export class ConfigRestoreError extends StrataError {}

/** The most of each a configuration may hold: far above any real server. */
const MAX_ITEMS = 10_000

export interface RestoredConfig {
  readonly dataDir: string
  readonly pools: readonly string[]
  readonly repositories: readonly string[]
  readonly jobs: readonly string[]
  /** Each user's new password: shown once to whoever restored, never logged. */
  readonly users: readonly { readonly username: string; readonly password: string }[]
}

/** Reads and checks a stored configuration (the bytes of its file). */
export function parseConfig(bytes: Uint8Array, what: string): ConfigExport {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (cause) {
    throw new ConfigRestoreError('NOT_A_CONFIG', `${what} is not JSON`, { cause })
  }
  const c = value as Partial<ConfigExport>
  if (c === null || typeof c !== 'object' || c.format !== CONFIG_FORMAT)
    throw new ConfigRestoreError('NOT_A_CONFIG', `${what} is not a Strata configuration`)
  if (c.version !== CONFIG_VERSION)
    throw new ConfigRestoreError('UNSUPPORTED_VERSION', `${what} has version ${String(c.version)}`)
  for (const key of ['pools', 'repositories', 'jobs', 'users'] as const) {
    const list = c[key]
    if (!Array.isArray(list) || list.length > MAX_ITEMS)
      throw new ConfigRestoreError('NOT_A_CONFIG', `${what}: '${key}' is not a list`)
  }
  const jobs = c.jobs!.map((job: unknown, i) => {
    const { id, ...input } = (job ?? {}) as { id?: unknown }
    const checked = checkJobInput(input)
    if (typeof id !== 'string' || !checked.ok) {
      const why = checked.ok ? 'no id' : checked.problems.map(formatProblem).join('; ')
      throw new ConfigRestoreError('NOT_A_CONFIG', `${what}: jobs[${i}] is not a job: ${why}`)
    }
    return completeJob(checked.value, { id, newScheduleId: () => newId('sched') })
  })
  c.users!.forEach((u, i) => {
    if (typeof u?.username !== 'string' || !ROLES.includes(u.role))
      throw new ConfigRestoreError('NOT_A_CONFIG', `${what}: users[${i}] is not a user`)
  })
  return { ...(c as ConfigExport), jobs }
}

/** Writes the configuration into `dataDir`, which must be empty (or absent) unless `force`. */
export async function restoreConfig(
  config: ConfigExport,
  o: {
    readonly dataDir: string
    readonly force?: boolean
    readonly overrides?: ConfigOverrides
    readonly signal?: AbortSignal
  },
): Promise<RestoredConfig> {
  const before = existsSync(o.dataDir) ? readdirSync(o.dataDir) : []
  if (before.length > 0 && o.force !== true)
    throw new ConfigRestoreError(
      'DATA_DIR_NOT_EMPTY',
      `data directory ${o.dataDir} is not empty (${before.length} entries): restore into a fresh one, or --force`,
    )
  const server = loadConfig({ ...o.overrides, dataDir: o.dataDir })
  const box = new SecretBox(server.secretKey)
  let db: Db | undefined
  try {
    const users = config.users.map((u) => ({ ...u, password: randomBytes(12).toString('base64url') }))
    const hasher = new PasswordHasher()
    const hashes = await Promise.all(users.map((u) => hasher.hash(u.password, o.signal)))
    db = await openDatabase(server.dataDir, box)
    const open = db
    await open.transaction(() => writeAll(open, box, config, users, hashes))
    db = undefined
    await open.close()
    return {
      dataDir: server.dataDir,
      pools: config.pools.map((p) => p.name),
      repositories: config.repositories.map((r) => r.name),
      jobs: config.jobs.map((j) => j.name),
      users: users.map((u) => ({ username: u.username, password: u.password })),
    }
  } catch (error) {
    await db?.close()
    undo(o.dataDir, before)
    throw error
  }
}

async function writeAll(
  db: Db,
  box: SecretBox,
  config: ConfigExport,
  users: readonly { username: string; role: string }[],
  hashes: readonly string[],
): Promise<void> {
  for (const p of config.pools)
    await db.run(
      'INSERT INTO pools (id, name, url, username, password_sealed, fingerprint, insecure_http) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [
        p.id,
        p.name,
        p.url,
        p.username,
        box.seal('', poolPasswordField(p.id)),
        p.fingerprint ?? null,
        p.insecureHttp ? 1 : 0,
      ],
    )
  for (const r of config.repositories)
    await db.run(
      'INSERT INTO repositories (id, name, location, passphrase_sealed, s3_sealed, identity) VALUES (?, ?, ?, NULL, NULL, ?)',
      [r.id, r.name, r.location, r.identity === undefined ? null : JSON.stringify(r.identity)],
    )
  const jobs = new JobStore(db)
  for (const job of config.jobs) await jobs.save(job)
  for (const [i, u] of users.entries())
    await db.run('INSERT INTO users (id, username, role, password_hash, created) VALUES (?, ?, ?, ?, ?)', [
      newId('u'),
      u.username,
      u.role,
      hashes[i]!,
      Date.now(),
    ])
  const setting = 'INSERT INTO settings (key, value) VALUES (?, ?)'
  const { syslog, restoreTag } = config.settings ?? {}
  if (typeof syslog === 'string') await db.run(setting, ['syslog', syslog])
  if (typeof restoreTag === 'string') await db.run(setting, ['restoreTag', restoreTag])
}

/** Removes what the restore made in the directory: only the entries that were not there before. */
function undo(dataDir: string, before: readonly string[]): void {
  if (!existsSync(dataDir)) return
  for (const name of readdirSync(dataDir))
    if (!before.includes(name)) rmSync(join(dataDir, name), { recursive: true, force: true })
}
