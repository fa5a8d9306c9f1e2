// The entry point of a job's worker process (forked by worker.ts): it runs the job with the real effects
// (XAPI pools, repositories, the data path). This is a composition root: the one place in the engine
// that opens concrete stores. Repositories open with the secret of the environment (STRATA_KEY_FILE or
// STRATA_PASSPHRASE), like the CLI's, and fail naming the next step.
import { openRepositoryFromEnv } from '../open/index.js'
import { connectPool } from './pool-session.js'
import type { RunDeps } from './run.js'
import { replicateVm } from './replication/replicate-vm.js'
import { backupVm } from './vm-backup.js'
import { serveJobs, type Env } from './worker-child.js'

/**
 * A job's repositories open with the environment's secret, compared with what the job recorded of them.
 * A secret shared by several repositories goes only to those that are encrypted (open-repository.ts).
 */
function realRunDeps(env: Env): Omit<RunDeps, 'limits'> {
  return {
    connectPool: (pool, signal) => connectPool(pool, env, signal),
    openRepository: (target, signal, options) =>
      openRepositoryFromEnv(target.location, {
        env,
        expected: options?.expected,
        passphraseShared: options?.passphraseShared,
        signal,
      }),
    backupVm,
    replicateVm,
    ...(env.STRATA_HEALTH_CHECK_OWNER === undefined
      ? {}
      : { healthCheckOwner: env.STRATA_HEALTH_CHECK_OWNER }),
  }
}

serveJobs(realRunDeps)
