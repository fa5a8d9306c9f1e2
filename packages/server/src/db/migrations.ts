// The database schema, as numbered migrations applied in order (PRAGMA user_version holds the last one
// applied; on PostgreSQL, the table strata_schema). Never edit a migration that has shipped: add the next one. A migration is SQL (one text for
// every dialect, one whose 64-bit integers are written INT64, or one per dialect side by side where they
// differ more), or code for what SQL cannot do (re-sealing secrets needs the server key).
import type { Db, Dialect } from './db-handle.js'
import type { SecretBox } from '../secret-box.js'
import { resealBound } from './reseal-secrets.js'

export type Migration =
  | string
  | { readonly [dialect in Dialect]: string }
  | ((db: Db, deps: { readonly box?: SecretBox }) => Promise<void>)

/** A migration written in SQL. */
export type SqlMigration = Exclude<Migration, (...args: never[]) => unknown>

/**
 * A text for both dialects that differ only in the type of 64-bit integers (times in ms, byte counts):
 * INT64 is SQLite's INTEGER (64-bit already) and PostgreSQL's BIGINT.
 */
function int64(sql: string): { readonly [dialect in Dialect]: string } {
  return { sqlite: sql.replace(/\bINT64\b/g, 'INTEGER'), postgres: sql.replace(/\bINT64\b/g, 'BIGINT') }
}

/** The SQL of a migration for a dialect. */
export function migrationSql(migration: SqlMigration, dialect: Dialect): string {
  return typeof migration === 'string' ? migration : migration[dialect]
}

export const MIGRATIONS: readonly Migration[] = [
  // 1: users, sessions, tokens, pools, repositories, jobs, runs, scheduler state, settings
  {
    sqlite: `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'read-only')),
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    totp_pending TEXT,
    created INTEGER NOT NULL
  );
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires INTEGER NOT NULL
  );
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
  );
  CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    username TEXT NOT NULL,
    password_sealed TEXT NOT NULL
  );
  CREATE TABLE repositories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    passphrase_sealed TEXT,
    s3_sealed TEXT
  );
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    job_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    schedule_id TEXT,
    status TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER,
    warnings INTEGER NOT NULL DEFAULT 0,
    error TEXT
  );
  CREATE INDEX runs_by_start ON runs (start DESC);
  CREATE TABLE schedule_state (
    job_id TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    last_fired INTEGER NOT NULL,
    PRIMARY KEY (job_id, schedule_id)
  );
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
    // PostgreSQL: times in ms and byte counts need 64 bits; `end` is a reserved word there.
    postgres: `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'read-only')),
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    totp_pending TEXT,
    created BIGINT NOT NULL
  );
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires BIGINT NOT NULL
  );
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
  );
  CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    username TEXT NOT NULL,
    password_sealed TEXT NOT NULL
  );
  CREATE TABLE repositories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    passphrase_sealed TEXT,
    s3_sealed TEXT
  );
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    job_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    schedule_id TEXT,
    status TEXT NOT NULL,
    start BIGINT NOT NULL,
    "end" BIGINT,
    warnings INTEGER NOT NULL DEFAULT 0,
    error TEXT
  );
  CREATE INDEX runs_by_start ON runs (start DESC);
  CREATE TABLE schedule_state (
    job_id TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    last_fired BIGINT NOT NULL,
    PRIMARY KEY (job_id, schedule_id)
  );
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  },
  // 2: pinned pool certificates (SHA-256 of the certificate of the host the URL names; NULL until an
  // admin accepts one) and the explicit permission to talk to a pool over plain HTTP. Pools added
  // before stay unpinned and over https:// or refused until an admin decides.
  `
  ALTER TABLE pools ADD COLUMN fingerprint TEXT;
  ALTER TABLE pools ADD COLUMN insecure_http INTEGER NOT NULL DEFAULT 0;
  `,
  // 3: what a run is about, by name (pools, repositories, VMs) and the restore points it wrote
  `
  ALTER TABLE runs ADD COLUMN details TEXT;
  CREATE INDEX runs_by_job ON runs (job_id, start DESC);
  `,
  // 4: API tokens expire (tokens made before get 90 days from now), note their last use and can be
  // revoked; each user's last TOTP time step used, so that a code is accepted once.
  {
    sqlite: `
  ALTER TABLE tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE tokens ADD COLUMN last_used INTEGER;
  ALTER TABLE tokens ADD COLUMN revoked INTEGER;
  UPDATE tokens SET expires = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 90 * 86400000;
  ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
  `,
    postgres: `
  ALTER TABLE tokens ADD COLUMN expires BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE tokens ADD COLUMN last_used BIGINT;
  ALTER TABLE tokens ADD COLUMN revoked BIGINT;
  UPDATE tokens SET expires = CAST(extract(epoch FROM now()) AS BIGINT) * 1000 + CAST(90 AS BIGINT) * 86400000;
  ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
  `,
  },
  // 5: what the server found in each repository when it was added (RepositoryIdentity as JSON), compared
  // at every open so that a configuration changed behind its back is refused (not a secret: not sealed)
  `
  ALTER TABLE repositories ADD COLUMN identity TEXT;
  `,
  // 6: sealed secrets bound to their table, row and column (AES-GCM associated data). It stays after
  // every migration that adds a sealed column, so that it re-seals them all.
  (db, { box }) => resealBound(db, box),
  // 7: reports and what charts and metrics read. The SMTP server (one row: its settings as JSON, the
  // password sealed) and webhooks (each secret sealed); per run, the bytes it read and stored; per job
  // and VM, the last successful backup (filled from the runs recorded before); each repository's
  // stored and logical bytes over time. Sealed bound from the start (v2): the re-sealing above has
  // nothing to do for them.
  {
    sqlite: `
  CREATE TABLE smtp (
    id TEXT PRIMARY KEY CHECK (id = 'smtp'),
    body TEXT NOT NULL,
    password_sealed TEXT
  );
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created INTEGER NOT NULL
  );
  CREATE TABLE run_stats (
    run_id TEXT PRIMARY KEY,
    bytes_read INTEGER NOT NULL,
    bytes_stored INTEGER NOT NULL,
    size INTEGER NOT NULL
  );
  CREATE TABLE vm_last_success (
    job_id TEXT NOT NULL,
    vm_uuid TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    time INTEGER NOT NULL,
    PRIMARY KEY (job_id, vm_uuid)
  );
  INSERT INTO vm_last_success (job_id, vm_uuid, vm_name, time)
    SELECT r.job_id, json_extract(v.value, '$.uuid'), json_extract(v.value, '$.name'), MAX(r.end)
    FROM runs r, json_each(r.details, '$.vms') v
    WHERE r.kind = 'backup' AND r.end IS NOT NULL AND json_valid(r.details)
      AND json_extract(v.value, '$.status') = 'success'
    GROUP BY r.job_id, json_extract(v.value, '$.uuid');
  CREATE TABLE usage_samples (
    repository_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    logical_bytes INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    points INTEGER NOT NULL,
    PRIMARY KEY (repository_id, time)
  );
  `,
    // PostgreSQL: no last successes to fill, as no PostgreSQL database holds runs from before this
    // migration (PostgreSQL came after it).
    postgres: `
  CREATE TABLE smtp (
    id TEXT PRIMARY KEY CHECK (id = 'smtp'),
    body TEXT NOT NULL,
    password_sealed TEXT
  );
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created BIGINT NOT NULL
  );
  CREATE TABLE run_stats (
    run_id TEXT PRIMARY KEY,
    bytes_read BIGINT NOT NULL,
    bytes_stored BIGINT NOT NULL,
    size BIGINT NOT NULL
  );
  CREATE TABLE vm_last_success (
    job_id TEXT NOT NULL,
    vm_uuid TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    time BIGINT NOT NULL,
    PRIMARY KEY (job_id, vm_uuid)
  );
  CREATE TABLE usage_samples (
    repository_id TEXT NOT NULL,
    time BIGINT NOT NULL,
    stored_bytes BIGINT NOT NULL,
    logical_bytes BIGINT NOT NULL,
    chunks INTEGER NOT NULL,
    points INTEGER NOT NULL,
    PRIMARY KEY (repository_id, time)
  );
  `,
  },
  // 8: rollback detection (docs/immutability.md): the points the server has seen committed in each
  // repository (the newest ones, bounded), the newest it ever saw, and the warning raised when points
  // vanish outside its own retention and deletes or the newest is older than that.
  int64(`
  CREATE TABLE seen_points (
    repository_id TEXT NOT NULL,
    point_id TEXT NOT NULL,
    vm TEXT NOT NULL,
    time INT64 NOT NULL,
    PRIMARY KEY (repository_id, point_id)
  );
  CREATE TABLE rollback_watch (
    repository_id TEXT PRIMARY KEY,
    newest_point TEXT,
    newest_vm TEXT,
    newest_time INT64,
    warning TEXT
  );
  `),
  // 9: Xen Orchestra backup remotes, read-only sources (docs/migrate-from-xo.md): an encrypted remote's
  // key and S3 keys sealed bound from the start.
  int64(`
  CREATE TABLE xo_remotes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    key_sealed TEXT,
    s3_sealed TEXT,
    created INT64 NOT NULL
  );
  `),
  // 10: agents: their token's hash, their sealing key (sealed), what they said of themselves, their pools
  int64(`
  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    seal_key_sealed TEXT NOT NULL,
    created INT64 NOT NULL,
    version TEXT,
    last_seen INT64
  );
  CREATE TABLE agent_pools (
    pool_id TEXT PRIMARY KEY REFERENCES pools(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE
  );
  `),
  // 11: repositories assigned to an agent: the server never opens them, it asks the agent
  `
  CREATE TABLE agent_repositories (
    repository_id TEXT PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE
  );
  `,
  // 12: runs' task events, in batches, where the store is shared (PostgreSQL: runs/run-event-log.ts);
  // a SQLite server keeps them in the engine's run logs and leaves this table empty
  `
  CREATE TABLE run_events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    events TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
  );
  `,
]
