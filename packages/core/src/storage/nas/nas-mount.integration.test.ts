// The mount lifecycle for real: a kernel mount (tmpfs standing in for the share: no kernel SMB or NFS
// here, the commands' construction is nas-mount.test.ts's) under the mounts directory, the whole store
// suite through openStore on it, the mount shared and unmounted by the last close, a share unmounted
// under Strata refused instead of written beside, and the mount a killed process left reused.
import { fork } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir } from '../../testing/index.js'
import { describeObjectStoreConformance } from '../conformance.js'
import { tmpfsRunner } from '../fixtures/tmpfs-runner.js'
import { openStore } from '../open-store.js'
import { mountAt, parseMountTable, readMountTable } from './mount-table.js'
import { runCommand } from './run-command.js'

const LOCATION = 'smb://backup@127.0.0.1:4450/backup/strata'
const ENV = { STRATA_SMB_PASSWORD: 'secret' }

for (const binary of ['mount', 'umount']) requireBinary(binary)

// A test that fails midway must not leave a kernel mount behind: unmount whatever is still mounted
// below this file's scratch directories (their names start so), before they are removed.
afterAll(async () => {
  for (const entry of parseMountTable(await readMountTable())) {
    if (entry.fsType === 'tmpfs' && entry.mountPoint.startsWith(join(tmpdir(), 'strata-nas-')))
      await runCommand('umount', [entry.mountPoint], { timeoutMs: 10_000 })
  }
})

/** The one mount point under `mountDir` (beside it: its holders directory). */
async function mountPointIn(mountDir: string): Promise<string> {
  const [point = ''] = (await readdir(mountDir)).filter(
    (n) => !n.endsWith('.holders') && !n.endsWith('.lock'),
  )
  return join(mountDir, point)
}

async function mounted(mountPoint: string) {
  return mountAt(parseMountTable(await readMountTable()), mountPoint)
}

function open(mountDir: string, calls: string[] = []) {
  return openStore(LOCATION, ENV, { nas: { mountDir, runner: tmpfsRunner(calls) }, logger: () => undefined })
}

describeObjectStoreConformance('NAS location mounted by Strata (tmpfs for the share)', async () => {
  const scratch = await scratchDir('strata-nas-')
  const store = await open(scratch.path('mounts'))
  expect(store.name).toBe('smb://backup@127.0.0.1:4450/backup/strata')
  return {
    store,
    cleanup: async () => {
      expect(await readdir(scratch.path('mounts'))).toHaveLength(2) // the mount point and its holders
      expect(await mounted(await mountPointIn(scratch.path('mounts')))).toBeUndefined() // close unmounted it
      await scratch[Symbol.asyncDispose]()
    },
  }
})

describe('NAS mounts', () => {
  it('shares one mount between opens and unmounts it when the last one closes', async () => {
    await using scratch = await scratchDir('strata-nas-')
    const calls: string[] = []
    const first = await open(scratch.path('mounts'), calls)
    const second = await open(scratch.path('mounts'), calls)
    await first.put('k', new TextEncoder().encode('shared'))
    expect(new TextDecoder().decode(await second.get('k'))).toBe('shared')
    const mountPoint = await mountPointIn(scratch.path('mounts'))
    expect(await mounted(mountPoint)).toMatchObject({ source: '//127.0.0.1/backup', fsType: 'tmpfs' })
    await first.close?.()
    expect(await mounted(mountPoint)).toBeDefined()
    await second.close?.()
    expect(await mounted(mountPoint)).toBeUndefined()
    expect(calls).toEqual(['mount.cifs', 'umount'])
  })

  it('refuses every call once the share is unmounted under it, and writes nothing beside it', async () => {
    await using scratch = await scratchDir('strata-nas-')
    const store = await open(scratch.path('mounts'))
    await store.put('before', new Uint8Array([1]))
    const mountPoint = await mountPointIn(scratch.path('mounts'))
    const result = await runCommand('umount', [mountPoint], { timeoutMs: 10_000 })
    expect(result.code).toBe(0)
    const gone = {
      code: 'STORE_FAILED',
      reason: 'mount-point',
      message: expect.stringMatching(/is not mounted at/),
    }
    await expect(store.put('after', new Uint8Array([2]))).rejects.toMatchObject(gone)
    await expect(store.get('before')).rejects.toMatchObject(gone)
    expect(await readdir(mountPoint)).toEqual([])
    await store.close?.() // nothing left to unmount: no error
  })

  it('reuses the mount a killed process left, and unmounts it at the last close', async () => {
    await using scratch = await scratchDir('strata-nas-')
    const child = fork(
      join(import.meta.dirname, '..', 'fixtures', 'nas-open-and-hang.ts'),
      [LOCATION, scratch.path('mounts')],
      { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    )
    await new Promise((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`child exited with ${code}`)))
    })
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    const mountPoint = await mountPointIn(scratch.path('mounts'))
    expect(await mounted(mountPoint)).toBeDefined() // left behind
    const calls: string[] = []
    const store = await open(scratch.path('mounts'), calls)
    expect(calls).toEqual([]) // reused
    await store.close?.()
    expect(calls).toEqual(['umount'])
    expect(await mounted(mountPoint)).toBeUndefined()
    expect(await readdir(`${mountPoint}.holders`)).toEqual([])
    expect((await stat(mountPoint)).isDirectory()).toBe(true)
  }, 60_000)
})
