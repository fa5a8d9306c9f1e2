// Worker effects for restore tests: the real ones (worker-deps.ts), with a fatal error injected in the
// worker when FAKE_FATAL=transfer: at the first progress of a disk's transfer (a VM and a VDI exist on
// the pool, the upload is under way). The error is thrown outside any promise chain, as a bug in a
// callback would be: nothing catches it and the process dies (exit code 1), its undo never run.
import type { TaskContext } from '../../shared/index.js'
import type { Env, WorkerDeps } from '../worker-child.js'
import { realWorkerDeps } from '../worker-deps.js'

export function faultyRestoreDeps(env: Env): WorkerDeps {
  const real = realWorkerDeps(env)
  if (env.FAKE_FATAL === undefined) return real
  if (env.FAKE_FATAL !== 'transfer') throw new Error(`FAKE_FATAL: unknown moment '${env.FAKE_FATAL}'`)
  return {
    ...real,
    restoreVm: (task, xapi, limits, o) => real.restoreVm(crashOnProgress(task), xapi, limits, o),
    restoreDiskToSr: (task, xapi, limits, o) => real.restoreDiskToSr(crashOnProgress(task), xapi, limits, o),
    restoreVmDifferential: (task, xapi, o) => real.restoreVmDifferential(crashOnProgress(task), xapi, o),
  }
}

/** The task, and each of its children, dies at its first progress past zero. */
function crashOnProgress(task: TaskContext): TaskContext {
  return {
    ...task,
    progress: (progress) => {
      task.progress(progress)
      if (progress.done > 0)
        setTimeout(() => {
          throw new Error('injected fatal error (FAKE_FATAL=transfer)')
        })
    },
    child: (name, fn, data) => task.child(name, (t) => fn(crashOnProgress(t)), data),
  }
}
