// A worker entry point for tests: serves jobs with the fake run effects of fake-run-deps.ts.
import { serveJobs } from '../worker-child.js'
import { createRunDeps } from './fake-run-deps.js'

serveJobs(createRunDeps)
