// Issue 26: the shared memory a run hands to the codec worker threads does not grow with the VMs it
// backs up. Each disk read (VHD stream or NBD) takes its buffers from the process's shared memory and
// gives them all back, so the next VM reuses them: a buffer made per disk and dropped would stay alive in
// the codec threads (core/shared/shared-memory.ts), 2 MiB per VM. The run is in this process, VMs one
// at a time, so that the memory made is exact and the same after the first VM as after the last.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backupVm, connectPool, parseJob, processLimits, runJob } from '@strata/core/engine'
import { openRepository } from '@strata/core/open'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { sharedMemory } from '@strata/core/shared'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

const VMS = 8

describe('shared memory over the VMs of a run', () => {
  let lab: LabPool
  let scratch: Scratch

  beforeAll(async () => {
    requireBinary('openssl')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 10,
      vms: { count: VMS, diskSize: '5MiB', power: 'Running', tags: ['many'] },
    })
    scratch = await scratchDir('strata-shared-memory-')
    await Repository.create(new LocalStore(scratch.path('repo')))
  }, 60_000)
  afterAll(async () => {
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  /** Backs up every VM, one at a time; the shared memory made after each VM's end. */
  const run = async (id: string, preferNbd: boolean): Promise<number[]> => {
    const { password, ...pool } = lab.connection
    const job = parseJob({
      id,
      pools: [{ id: 'lab', ...pool }],
      vms: { tags: ['many'] },
      repositories: [{ name: 'local', location: scratch.path('repo') }],
      settings: { mode: 'full', vmConcurrency: 1, preferNbd },
    })
    const vmTasks = new Set<string>()
    const made: number[] = []
    const result = await runJob({
      job,
      dataDir: scratch.path('engine'),
      signal: AbortSignal.timeout(120_000),
      onEvent: (event) => {
        if (event.type === 'start' && event.name === 'VM') vmTasks.add(event.id)
        if (event.type === 'end' && vmTasks.has(event.id)) made.push(sharedMemory.stats.made)
      },
      deps: {
        connectPool: (p, signal) => connectPool(p, { STRATA_XAPI_PASSWORD: password }, signal),
        openRepository: (target, signal) => openRepository(target.location, { credentials: {}, signal }),
        backupVm,
        limits: (uuid) => processLimits.forPool(uuid),
      },
    })
    expect(result.status).toBe('success')
    expect(result.vms.every((vm) => vm.result!.bytesRead > 0)).toBe(true)
    return made
  }

  it.each([
    ['over NBD', true],
    ['from the VHD stream', false],
  ])(
    'makes no more of it after the first VM, %s, and gets it all back',
    async (_how, nbd) => {
      const made = await run(nbd ? 'nbd' : 'vhd', nbd)
      console.log(`shared memory made after each VM ${nbd ? 'over NBD' : 'from VHD'}: ${made.join(' ')}`)
      expect(made).toHaveLength(VMS)
      expect(made[0]).toBeGreaterThan(0)
      expect(made.at(-1)).toBe(made[0])
      expect(sharedMemory.stats.free).toBe(sharedMemory.stats.made)
    },
    120_000,
  )
})
