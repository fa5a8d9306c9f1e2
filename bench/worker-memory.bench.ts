// npm run bench -- worker-memory [count] [nbd]: the memory of a run's process as it backs up many VMs
// (issue 26), without a server: a lab pool of `count` small sparse VMs (default 200, in a process of its
// own; 'nbd' reads them over NBD instead of VHD exports), one smart job run in this process as a worker
// runs it, and after VMs 1, 5, 10, 20, 50, 100, …: RSS, the JS heap, the ArrayBuffers of this thread's
// allocator (the codec threads' shared memory included), the anonymous memory of /proc/self/smaps_rollup
// and the shared memory made. See docs/scale-out.md, "Memory".
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { backupVm, connectPool, parseJob, processLimits, runJob } from '@strata/core/engine'
import { openRepository } from '@strata/core/open'
import { Repository } from '@strata/core/repository'
import { sharedMemory } from '@strata/core/shared'
import { LocalStore } from '@strata/core/storage'
import { startLab, stopLab } from '../packages/server/src/testing/scale-run.js'

const MiB = 1024 * 1024
const count = Number(process.argv[2] ?? 200)
const nbd = process.argv[3] === 'nbd'
const { child, pool } = await startLab(count, '16MiB', nbd)
const dir = await mkdtemp(join(tmpdir(), 'strata-worker-memory-'))
try {
  await Repository.create(new LocalStore(join(dir, 'repo')))
  const { password, ...connection } = pool
  const job = parseJob({
    id: 'worker-memory',
    pools: [{ id: 'lab', ...connection }],
    vms: { tags: ['scale'] },
    repositories: [{ name: 'local', location: join(dir, 'repo') }],
  })
  const vmTasks = new Set<string>()
  let ended = 0
  const started = Date.now()
  const result = await runJob({
    job,
    dataDir: join(dir, 'engine'),
    signal: AbortSignal.timeout(30 * 60_000),
    onEvent: (event) => {
      if (event.type === 'start' && event.name === 'VM') vmTasks.add(event.id)
      if (event.type !== 'end' || !vmTasks.has(event.id)) return
      ended++
      if ([1, 5, 10, 20].includes(ended) || ended % 50 === 0 || ended === count)
        void sample(`after ${ended} VMs (${((Date.now() - started) / 1000).toFixed(0)} s)`)
    },
    deps: {
      connectPool: (p, signal) => connectPool(p, { STRATA_XAPI_PASSWORD: password }, signal),
      openRepository: (target, signal) => openRepository(target.location, { credentials: {}, signal }),
      backupVm,
      limits: (uuid) => processLimits.forPool(uuid),
    },
  })
  console.log(`${result.status}: ${result.vms.length} VMs in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  await sample('at the end')
} finally {
  await stopLab(child)
  await rm(dir, { recursive: true, force: true })
}
// As a worker does once its run ended: keep-alive sockets and timers must not keep it alive.
process.exit(0)

async function sample(label: string): Promise<void> {
  const m = process.memoryUsage()
  const smaps = await readFile('/proc/self/smaps_rollup', 'utf8')
  const anonymous = Number(/^Anonymous:\s+(\d+) kB/m.exec(smaps)?.[1] ?? 0) / 1024
  const mib = (n: number) => `${(n / MiB).toFixed(0)}`
  console.log(
    `${label}: RSS ${mib(m.rss)} MiB, heap used ${mib(m.heapUsed)}, array buffers ${mib(m.arrayBuffers)}, ` +
      `anonymous ${anonymous.toFixed(0)}, shared memory made ${mib(sharedMemory.stats.made)}`,
  )
}
