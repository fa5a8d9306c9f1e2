// The entry point of a worker process (forked by worker.ts): it runs a job or a restore with the real
// effects (worker-deps.ts). This is a composition root: the one place in the engine that opens concrete
// stores and pool sessions for runs.
import { realWorkerDeps } from './worker-deps.js'
import { serveJobs } from './worker-child.js'

serveJobs(realWorkerDeps)
