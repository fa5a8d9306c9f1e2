// Run effects for worker tests (the worker entry fake-worker-main.ts serves jobs with them): a pool of VMs named in
// FAKE_VMS, a local repository at FAKE_REPO, and a data path that holds a pool transfer slot for
// FAKE_TRANSFER_MS, appending 'start'/'end' lines with times to FAKE_TRACE so the test sees overlaps.
import { appendFileSync } from 'node:fs'
import { PointWriter, Repository } from '../../repository/index.js'
import { sleep } from '../../shared/index.js'
import { LocalStore } from '../../storage/index.js'
import type { XapiClient } from '../../xapi/index.js'
import { restoreDiskToSr, restoreVm } from '../vm-restore.js'
import { restoreVmDifferential } from '../../restore/index.js'
import type { Env, WorkerDeps } from '../worker-child.js'

/** Fake effects for jobs; restores get the real ones, which fail on the fake pool. */
export function createRunDeps(env: Env): WorkerDeps {
  const names = (env.FAKE_VMS ?? 'a').split(',')
  const vms = new Map(names.map((n, i) => [`OpaqueRef:${i}`, { uuid: `uuid-${n}`, name_label: n, tags: [] }]))
  return {
    connectPool: async (pool) => ({
      poolId: pool.id,
      uuid: 'pool-uuid',
      xapi: {} as XapiClient,
      cache: { all: () => vms },
      close: async () => {},
    }),
    openRepository: async () => Repository.open(new LocalStore(env.FAKE_REPO!)),
    backupVm: async (task, _xapi, limits, vmUuid, targets, settings) => {
      await task.child('transfer', async (t) => {
        await limits.transfers.run(async () => {
          appendFileSync(env.FAKE_TRACE!, `start ${Date.now()} ${process.pid}\n`)
          t.progress({ done: 0, total: 100 })
          await sleep(Number(env.FAKE_TRANSFER_MS ?? 100), t.signal)
          t.progress({ done: 100, total: 100 })
          appendFileSync(env.FAKE_TRACE!, `end ${Date.now()} ${process.pid}\n`)
        }, t.signal)
      })
      const points = []
      for (const target of targets) {
        const writer = await PointWriter.begin(target.repository, { vm: vmUuid, jobId: settings.jobId })
        await writer.openDisk('disk 0', 1024).putChunk(0, Buffer.alloc(1024, 7))
        points.push({ target: target.name, pointId: (await writer.commit()).pointId })
      }
      return { vmUuid, points, full: true, bytesRead: 100, bytesStored: 1, warnings: [] }
    },
    restoreVm,
    restoreDiskToSr,
    restoreVmDifferential,
  }
}
