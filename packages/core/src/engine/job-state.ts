// What a job remembers between runs: per VM, how many runs since its last full backup (for "a full
// every N runs"). A small JSON file per job, rewritten atomically; only the run holding the job's lock
// writes it, so there is no concurrent writer.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface JobState {
  vms: Record<string, { runsSinceFull: number; lastRunId: string }>
}

export async function readJobState(dir: string, jobId: string): Promise<JobState> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, `${jobId}.json`), 'utf8')) as Partial<JobState>
    return { vms: typeof parsed.vms === 'object' && parsed.vms !== null ? parsed.vms : {} }
  } catch {
    // Missing or unreadable: the worst outcome is a full backup earlier than planned.
    return { vms: {} }
  }
}

export async function writeJobState(dir: string, jobId: string, state: JobState): Promise<void> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, `${jobId}.json`)
  await writeFile(`${path}.tmp`, JSON.stringify(state))
  await rename(`${path}.tmp`, path)
}

/** A full is due when this run would be the N-th since the last full. */
export function fullDue(state: JobState, vmUuid: string, fullInterval: number): boolean {
  if (fullInterval <= 0) return false
  const entry = state.vms[vmUuid]
  return entry !== undefined && entry.runsSinceFull + 1 >= fullInterval
}

export function recordRun(state: JobState, vmUuid: string, runId: string, full: boolean): void {
  const before = state.vms[vmUuid]?.runsSinceFull ?? 0
  state.vms[vmUuid] = { runsSinceFull: full ? 0 : before + 1, lastRunId: runId }
}
