// Per-VM backup and restore against the lab pool on a local repository: a full run, then incremental runs
// with each changed-block path forced and `auto`, guest activity in between, every point compared
// byte for byte with the snapshot it came from, and the pool checked for leaks after every run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { expectNoLeaks, expectPointEqualsSnapshots, startLabEnv, type LabEnv } from './lab-backup-fixture.js'
import { backupVm, type VmBackupSettings } from '../../src/engine/index.js'

const MiB = 1024 * 1024

describe('backupVm against the lab (local repository)', () => {
  let env: LabEnv
  let vmUuid: string
  let disks: string[]
  const settings = (o: Partial<VmBackupSettings> = {}): VmBackupSettings => ({
    runId: `run-${Math.random().toString(16).slice(2)}`,
    jobId: 'job-1',
    mode: 'delta',
    ...o,
  })
  const run = (o: Partial<VmBackupSettings> = {}) =>
    backupVm(
      silentTask(),
      env.xapi,
      env.limits,
      vmUuid,
      [{ name: 'local', repository: env.repo }],
      settings(o),
    )

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startLabEnv({ vms: [{ name: 'web-01', power: 'Running', disks: [16, 8] }] })
    const vm = env.lab.ref('VM', 'web-01')
    vmUuid = String(env.lab.state.db.get('VM', vm).uuid)
    disks = env.lab.guest.disks(vm)
  })
  afterAll(async () => {
    await env?.close()
  })

  it('makes a full backup first, then incrementals through every changed-block path', async () => {
    const first = await run()
    expect(first.full).toBe(true)
    await expectPointEqualsSnapshots(env, first.points[0]!.pointId)
    await expectNoLeaks(env)
    for (const path of ['cbt', 'vhd-bat', 'vhd-stream', 'full', 'auto'] as const) {
      await env.lab.guest.writeRandomBlocks(disks[0]!, 5)
      await env.lab.guest.write(disks[1]!, 3 * MiB + 4096, Buffer.alloc(9000, path.length))
      await env.lab.guest.writeFile(disks[0]!, `/srv/web-01/${path}.txt`, `written before the ${path} run\n`)
      const result = await run({ changedBlocks: path })
      expect(result.full, path).toBe(false)
      expect(result.warnings, path).toEqual([])
      if (path !== 'full') expect(result.bytesRead, path).toBeLessThan(20 * MiB) // of 24 MiB
      await expectPointEqualsSnapshots(env, result.points[0]!.pointId)
      await expectNoLeaks(env)
    }
  })
})
