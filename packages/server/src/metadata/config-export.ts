// The server's own configuration as a metadata job stores it (docs/metadata-backups.md): pools,
// repositories, jobs, users and settings, without any secret — no pool password, no repository
// passphrase or S3 key, no password hash or TOTP secret, whatever the repository's encryption. A
// restored server asks for them again (config-restore.ts). The file is JSON, versioned.
import type { StoredJob } from '@strata/contract'
import type { RepositoryIdentity } from '@strata/core/repository'
import type { Role, Users } from '../auth/users.js'
import type { JobStore } from '../jobs/job-store.js'
import type { PoolRecord, PoolStore } from '../pools/pool-store.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { Settings, SettingsView } from '../settings.js'

/** The name of the file in a configuration's metadata point. */
export const CONFIG_FILE = 'strata-config.json'
export const CONFIG_FORMAT = 'strata-config'
export const CONFIG_VERSION = 1

export interface ConfigExport {
  readonly format: typeof CONFIG_FORMAT
  readonly version: typeof CONFIG_VERSION
  readonly exportedAt: string
  readonly pools: readonly PoolRecord[]
  readonly repositories: readonly {
    readonly id: string
    readonly name: string
    readonly location: string
    readonly encrypted: boolean
    readonly identity?: RepositoryIdentity
  }[]
  readonly jobs: readonly StoredJob[]
  readonly users: readonly { readonly username: string; readonly role: Role }[]
  readonly settings: SettingsView
}

export interface ConfigSources {
  readonly pools: PoolStore
  readonly repositories: RepositoryStore
  readonly jobs: JobStore
  readonly users: Users
  readonly settings: Settings
}

export async function exportConfig(s: ConfigSources, now = new Date()): Promise<ConfigExport> {
  return {
    format: CONFIG_FORMAT,
    version: CONFIG_VERSION,
    exportedAt: now.toISOString(),
    pools: await s.pools.list(),
    repositories: (await s.repositories.list()).map((r) => ({
      id: r.id,
      name: r.name,
      location: r.location,
      encrypted: r.encrypted,
      ...(r.identity === undefined ? {} : { identity: r.identity }),
    })),
    jobs: await s.jobs.list(),
    users: (await s.users.list()).map((u) => ({ username: u.username, role: u.role })),
    settings: await s.settings.view(),
  }
}

/** The file a metadata run stores, and what its point's manifest says of it. */
export async function configFiles(s: ConfigSources): Promise<{
  files: { name: string; data: Uint8Array }[]
  info: Record<string, unknown>
}> {
  const config = await exportConfig(s)
  const data = new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`)
  const info = {
    format: CONFIG_FORMAT,
    version: CONFIG_VERSION,
    counts: {
      pools: config.pools.length,
      repositories: config.repositories.length,
      jobs: config.jobs.length,
      users: config.users.length,
    },
  }
  return { files: [{ name: CONFIG_FILE, data }], info }
}
