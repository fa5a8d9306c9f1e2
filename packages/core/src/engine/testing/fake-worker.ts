// Runs a job in a real worker process whose effects are fake (fake-run-deps.ts): the process, the IPC,
// the shared pool limits and the run log are the real ones. Tests only: production code cannot import
// testing/ (the lint forbids it) and the worker protocol carries no way to swap the effects.
import type { RunResult } from '../run.js'
import { runJobWithEntry, type WorkerRunOptions } from '../worker.js'

export function runJobInFakeWorker(o: WorkerRunOptions): Promise<RunResult> {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js'
  return runJobWithEntry(o, new URL(`./fake-worker-main.${ext}`, import.meta.url))
}
