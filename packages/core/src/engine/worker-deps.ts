// The real effects of a worker process (XAPI pools, repositories, the data path), made from its
// environment. Repositories open with the secret of the environment (STRATA_KEY_FILE or
// STRATA_PASSPHRASE), like the CLI's, and fail naming the next step. worker-main.ts serves with them;
// test entry points (engine/testing/) wrap them to inject faults.
import { openRepositoryFromEnv } from '../open/index.js'
import { connectPool } from './pool-session.js'
import { replicateVm } from './replication/replicate-vm.js'
import { backupVm } from './vm-backup.js'
import { restoreDiskToSr, restoreVm } from './vm-restore.js'
import { restoreVmDifferential } from '../restore/index.js'
import type { Env, WorkerDeps } from './worker-child.js'
import { slotEnv } from './worker-secrets.js'

/**
 * A run's repositories open with the environment's secret, compared with what the job (or the restore's
 * caller) recorded of them. A secret shared by several repositories goes only to those that are
 * encrypted (open-repository.ts).
 */
export function realWorkerDeps(env: Env): WorkerDeps {
  return {
    connectPool: (pool, signal) => connectPool(pool, env, signal),
    openRepository: (target, signal, options) =>
      openRepositoryFromEnv(target.location, {
        env: options?.slot === undefined ? env : slotEnv(env, options.slot),
        expected: options?.expected,
        passphraseShared: options?.passphraseShared,
        signal,
      }),
    backupVm,
    replicateVm,
    restoreVm,
    restoreDiskToSr,
    restoreVmDifferential,
    // A server names itself: the health checks its runs leave when it stops are swept when it starts.
    ...(env.STRATA_HEALTH_CHECK_OWNER === undefined
      ? {}
      : { healthCheckOwner: env.STRATA_HEALTH_CHECK_OWNER }),
  }
}
