// What a job remembers between runs: per VM, how many runs since its last full backup (for "a full
// every N runs"), and per repository location what it found there the first time (the repository's
// identity: id, encryption, config fingerprint, sealed), so that a repository whose configuration
// changed behind Strata's back is refused (REPOSITORY_CONFIG_CHANGED) instead of being backed up into.
// A small JSON file per job, rewritten atomically; only the run holding the job's lock writes it, so
// there is no concurrent writer.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseIdentity, type RepositoryIdentity } from '../repository/index.js'

export interface JobState {
  vms: Record<string, { runsSinceFull: number; lastRunId: string }>
  /** By repository location (path or URL). */
  repositories: Record<string, RepositoryIdentity>
}

export async function readJobState(dir: string, jobId: string): Promise<JobState> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, `${jobId}.json`), 'utf8')) as Partial<JobState>
    return {
      vms: typeof parsed.vms === 'object' && parsed.vms !== null ? parsed.vms : {},
      repositories: parseRepositories(parsed.repositories),
    }
  } catch {
    // Missing or unreadable: a full backup earlier than planned, and repositories recorded anew.
    return { vms: {}, repositories: {} }
  }
}

function parseRepositories(value: unknown): Record<string, RepositoryIdentity> {
  const out: Record<string, RepositoryIdentity> = {}
  if (typeof value !== 'object' || value === null) return out
  for (const [location, entry] of Object.entries(value)) {
    const identity = parseIdentity(entry)
    if (identity !== undefined) out[location] = identity
  }
  return out
}

export async function writeJobState(dir: string, jobId: string, state: JobState): Promise<void> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, `${jobId}.json`)
  await writeFile(`${path}.tmp`, JSON.stringify(state), { mode: 0o600 })
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

/** What the job recorded of the repository at `location`, to pass to its open as `expected`. */
export function recordedRepository(state: JobState, location: string): RepositoryIdentity | undefined {
  return state.repositories[location]
}

/**
 * Records the identity a repository showed at its first open by this job (or once it got sealed, which
 * only a holder of its key can do); resolves to whether the state changed and should be saved. The
 * open already compared it with what was recorded before.
 */
export function recordRepository(state: JobState, location: string, identity: RepositoryIdentity): boolean {
  const before = state.repositories[location]
  if (before !== undefined && (before.sealed || !identity.sealed)) return false
  state.repositories[location] = identity
  return true
}
