// A worker entry point for tests: serves with the real effects and the fatal error FAKE_FATAL injects
// (faulty-restore-deps.ts).
import { serveJobs } from '../worker-child.js'
import { faultyRestoreDeps } from './faulty-restore-deps.js'

serveJobs(faultyRestoreDeps)
