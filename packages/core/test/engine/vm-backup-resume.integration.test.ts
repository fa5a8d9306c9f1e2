// A backup whose repository session lapsed (the process slept past half the lease) must not commit, and
// must lose nothing: the snapshot stays for the next attempt, which resumes from it and from the
// chunks already stored instead of reading the disk again.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { backupVm, type VmBackupSettings } from '../../src/engine/index.js'
import { ResumeJournal } from '../../src/engine/resume-journal.js'
import { Repository } from '../../src/repository/index.js'
import { allowManyListeners, type TaskContext } from '../../src/shared/index.js'
import { LocalStore, type ObjectStore } from '../../src/storage/index.js'
import { expectNoLeaks, expectPointEqualsSnapshots, startLabEnv, type LabEnv } from './lab-backup-fixture.js'

const MiB = 1024 * 1024

/** A task that keeps its messages. */
function recordingTask(messages: string[]): TaskContext {
  const task: TaskContext = {
    signal: allowManyListeners(new AbortController().signal),
    info: (m) => void messages.push(m),
    warn: (m) => void messages.push(m),
    progress: () => {},
    set: () => {},
    child: (_name, fn) => fn(task),
  }
  return task
}

/** The first chunk put makes the wall clock jump 8 minutes: past half the 15-minute lease. */
function sleepingStore(inner: ObjectStore): ObjectStore {
  let slept = false
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    async put(key, data, options) {
      await inner.put(key, data, options)
      if (!slept && key.startsWith('chunks/')) {
        slept = true
        vi.setSystemTime(Date.now() + 8 * 60_000)
      }
    },
    get: (key, options) => inner.get(key, options),
    getRange: (key, offset, length, options) => inner.getRange(key, offset, length, options),
    stat: (key, options) => inner.stat(key, options),
    list: (prefix, options) => inner.list(prefix, options),
    delete: (key, options) => inner.delete(key, options),
  }
}

describe('backupVm after its repository session lapsed', () => {
  let env: LabEnv
  let vmUuid: string

  beforeAll(async () => {
    env = await startLabEnv({ vms: [{ name: 'db-01', power: 'Running', disks: [16] }] })
    vmUuid = String(env.lab.state.db.get('VM', env.lab.ref('VM', 'db-01')).uuid)
  })
  afterAll(async () => {
    vi.useRealTimers()
    await env?.close()
  })

  it('refuses to commit, keeps the snapshot, and the next attempt resumes from it', async () => {
    const repo = await Repository.open(sleepingStore(new LocalStore(env.scratch.path('repo'))))
    const targets = [{ name: 'local', repository: repo }]
    const journal = env.scratch.path('resume')
    const settings = async (runId: string): Promise<VmBackupSettings> => ({
      runId,
      jobId: 'job-resume',
      mode: 'delta',
      resume: await ResumeJournal.open(journal, vmUuid),
    })
    const snapshots = () => env.lab.state.db.find('VM', (r) => r.is_a_snapshot === true).length

    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true }) // the wall clock only
    const lapsed = backupVm(recordingTask([]), env.xapi, env.limits, vmUuid, targets, await settings('run-1'))
    await expect(lapsed).rejects.toMatchObject({ code: 'SESSION_EXPIRED', retryable: true })
    vi.useRealTimers()
    expect(snapshots()).toBe(1) // kept for the next attempt

    const messages: string[] = []
    const task = recordingTask(messages)
    const resumed = await backupVm(task, env.xapi, env.limits, vmUuid, targets, await settings('run-2'))
    expect(messages.join('\n')).toMatch(/resuming from the snapshot of an interrupted attempt/)
    expect(messages.join('\n')).toMatch(/resumed: \d+ chunks stored by an interrupted attempt/)
    expect(resumed.bytesRead).toBeLessThan(16 * MiB)
    await expectPointEqualsSnapshots({ ...env, repo }, resumed.points[0]!.pointId)
    await expectNoLeaks(env)
  })
})
