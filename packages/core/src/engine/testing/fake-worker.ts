// Runs work in real worker processes whose effects are the tests': a job with fake effects
// (fake-run-deps.ts), a restore with the real ones and an injected fatal error (faulty-restore-deps.ts).
// The process, the IPC, the shared pool limits and the run log are the real ones. Tests only: production
// code cannot import testing/ (the lint forbids it) and the worker protocol carries no way to swap the
// effects.
import type { RestoreResult } from '../restore-run.js'
import type { RunResult } from '../run.js'
import {
  entryUrl,
  runJobWithEntry,
  runRestoreWithEntry,
  type RestoreWorkerOptions,
  type WorkerRunOptions,
} from '../worker.js'

export function runJobInFakeWorker(o: WorkerRunOptions): Promise<RunResult> {
  return runJobWithEntry(o, entryUrl('fake-worker-main', import.meta.url))
}

/** The restore in a worker that dies of `fatal` (FAKE_FATAL, see faulty-restore-deps.ts), if given. */
export function runRestoreInFaultyWorker(
  o: RestoreWorkerOptions & { readonly fatal?: 'transfer' },
): Promise<RestoreResult> {
  const env = o.fatal === undefined ? o.env : { ...o.env, FAKE_FATAL: o.fatal }
  return runRestoreWithEntry({ ...o, env }, entryUrl('faulty-worker-main', import.meta.url))
}
