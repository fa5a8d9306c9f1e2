// The entry point of a job's worker process (forked by worker.ts): it runs the job with the real effects
// (XAPI pools, repositories, the data path). This is a composition root: the one place in the engine
// that opens concrete stores.
import { openRepository } from '../open/index.js'
import { connectPool } from './pool-session.js'
import type { RunDeps } from './run.js'
import { backupVm } from './vm-backup.js'
import { serveJobs, type Env } from './worker-child.js'

/**
 * A job's repositories open with STRATA_PASSPHRASE, compared with what the job recorded of them. A
 * passphrase shared by several repositories goes only to those that are encrypted (open-repository.ts).
 */
function realRunDeps(env: Env): Omit<RunDeps, 'limits'> {
  return {
    connectPool: (pool, signal) => connectPool(pool, env, signal),
    openRepository: (target, signal, options) =>
      openRepository(target.location, {
        credentials: env,
        passphrase: passphrase(env),
        expected: options?.expected,
        passphraseShared: options?.passphraseShared,
        signal,
      }),
    backupVm,
  }
}

function passphrase(env: Env): Uint8Array | undefined {
  const text = env.STRATA_PASSPHRASE
  return text === undefined || text === '' ? undefined : new TextEncoder().encode(text)
}

serveJobs(realRunDeps)
