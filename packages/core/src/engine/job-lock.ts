// A run never overlaps itself: one lock per job, held in this process (a set) and across processes (a
// lock file holding the owner's pid, created exclusively). A lock whose owner died (a killed worker) is
// stale and taken over; a live owner means the job is running and the new run is refused.
import { open, readFile, unlink, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { StrataError } from '../shared/index.js'

export class JobLockedError extends StrataError {
  constructor(jobId: string, owner: string) {
    super('JOB_RUNNING', `job '${jobId}' is already running (${owner}); a run never overlaps itself`)
  }
}

export interface JobLock {
  release(): Promise<void>
}

const heldHere = new Set<string>()

export async function lockJob(dir: string, jobId: string): Promise<JobLock> {
  const path = join(dir, `${jobId}.lock`)
  if (heldHere.has(path)) throw new JobLockedError(jobId, 'in this process')
  heldHere.add(path)
  try {
    await mkdir(dir, { recursive: true })
    await createLockFile(path, jobId)
  } catch (error) {
    heldHere.delete(path)
    throw error
  }
  let released = false
  return {
    release: async () => {
      if (released) return
      released = true
      heldHere.delete(path)
      await unlink(path).catch(() => undefined)
    },
  }
}

async function createLockFile(path: string, jobId: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(path, 'wx')
      await fh.writeFile(`${process.pid}\n`)
      await fh.close()
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const text = (await readFile(path, 'utf8').catch(() => '')).trim()
    const owner = Number(text)
    // An empty file is a lock being created right now by another process: it is held.
    if (attempt > 0 || text === '' || isAlive(owner))
      throw new JobLockedError(jobId, `process ${owner || 'unknown'}`)
    // The owner is gone (killed mid-run): its lock is stale.
    await unlink(path).catch(() => undefined)
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
