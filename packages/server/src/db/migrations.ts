// The database schema, as numbered migrations applied in order (PRAGMA user_version holds the last one
// applied). Never edit a migration that has shipped: add the next one.
export const MIGRATIONS: readonly string[] = [
  // 1: users, sessions, tokens, pools, repositories, jobs, runs, scheduler state, settings
  `
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
  // 2: pinned pool certificates (SHA-256 of the certificate of the host the URL names; NULL until an
  // admin accepts one) and the explicit permission to talk to a pool over plain HTTP. Pools added
  // before stay unpinned and over https:// or refused until an admin decides.
  `
  ALTER TABLE pools ADD COLUMN fingerprint TEXT;
  ALTER TABLE pools ADD COLUMN insecure_http INTEGER NOT NULL DEFAULT 0;
  `,
  // 3: what the server found in each repository when it was added (RepositoryIdentity as JSON), compared
  // at every open so that a configuration changed behind its back is refused
  `
  ALTER TABLE repositories ADD COLUMN identity TEXT;
  `,
]
