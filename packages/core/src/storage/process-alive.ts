import { errorCode } from '../shared/index.js'

/** Whether a process of this machine (and pid namespace) with this pid exists; EPERM: another user's. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errorCode(error) !== 'ESRCH'
  }
}
