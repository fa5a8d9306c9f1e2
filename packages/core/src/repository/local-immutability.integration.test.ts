// Immutable local repositories (chattr +i): every object of a point immutable with its date kept
// beside it; deletion refused to a non-root process, to root's own rm and to Strata before the date;
// gc frees after it (the clock moved, not slept); refused where the file system or the user cannot.
import { execFile } from 'node:child_process'
import { chmod, chown, mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { LocalStore } from '../storage/index.js'
import { requireBinary, scratchDir } from '../testing/index.js'
import { collectGarbage } from './gc.js'
import { manifestKey } from './format/layout.js'
import { deletePoint } from './points.js'
import { Repository } from './repository.js'
import { backupDisk, makeDisk, restoreDisk } from './testing/fixtures.js'

requireBinary('chattr')
requireBinary('lsattr')
requireBinary('setpriv')
requireBinary('mount')
const run = promisify(execFile)
const CHUNK = 512 * 1024
const DAY = 86_400_000
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }
const immutable = { seconds: 86_400, mode: 'compliance' } as const
const scratch = await scratchDir('strata-immutable-')
afterEach(() => void vi.useRealTimers())
afterAll(async () => {
  // The attribute would keep even this cleanup out: cleared first, whatever the test left.
  await run('chattr', ['-R', '-f', '-i', scratch.dir]).catch(() => undefined)
  await scratch[Symbol.asyncDispose]()
})

async function immutableFlag(path: string): Promise<boolean> {
  const { stdout } = await run('lsattr', ['-d', path])
  return stdout.split(' ')[0]!.includes('i')
}

/** Every file under `dir` (the repository's objects and the dates beside them). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

/** Gives the repository's directories to `uid`: who owns a directory may unlink in it (no sticky bit). */
async function chownDirs(dir: string, uid: number): Promise<void> {
  await chown(dir, uid, uid)
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isDirectory()) await chown(join(entry.parentPath, entry.name), uid, uid)
}

describe('immutable local repositories (chattr +i)', () => {
  it('refuses deletion before the date by a non-root process, by root, and by Strata; gc frees it after', async () => {
    const root = scratch.path('repo')
    const repo = await Repository.create(new LocalStore(root), { chunkSize: CHUNK, immutable })
    const disk = makeDisk(4, CHUNK)
    const point = await backupDisk(repo, disk, { timing })
    await point.retention
    const manifest = join(root, ...manifestKey(point).split('/'))
    const index = join(root, ...point.manifest.disks[0]!.index.split('/'))
    const chunks = (await filesUnder(join(root, 'chunks'))).filter((p) => !p.includes('.strata-'))
    expect(chunks.length).toBeGreaterThan(0)
    for (const path of [manifest, index, ...chunks]) expect(await immutableFlag(path), path).toBe(true)
    const kept = await repo.store.objectLock!.retention(manifestKey(point))
    expect(kept!.until.getTime()).toBeGreaterThan(Date.now() + DAY - 60_000)

    // Strata's software running without root, owning the whole repository: its rm is refused.
    await chmod(scratch.dir, 0o711) // mkdtemp's 0700 would refuse nobody before any attribute
    await chownDirs(root, 65534)
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', 'rm', '-f', manifest, chunks[0]!]
    await expect(run('setpriv', asNobody)).rejects.toMatchObject({
      stderr: expect.stringContaining('Operation not permitted'),
    })
    // Root's own unlink fails too while the attribute is set.
    await expect(run('rm', ['-f', manifest, index])).rejects.toMatchObject({
      stderr: expect.stringContaining('Operation not permitted'),
    })
    await chownDirs(root, 0)
    for (const path of [manifest, index, chunks[0]!]) expect((await stat(path)).isFile()).toBe(true)

    // Strata itself: forget refused with the date, gc keeps what the lock holds.
    await expect(deletePoint(repo, point)).rejects.toMatchObject({
      code: 'POINT_LOCKED',
      message: expect.stringContaining(kept!.until.toISOString()),
    })
    await expect(repo.store.delete(manifestKey(point))).rejects.toMatchObject({ code: 'OBJECT_LOCKED' })
    expect((await restoreDisk(repo, point)).equals(disk)).toBe(true)

    // After the date (the clock moved two days on): forget works, gc clears the attribute and deletes.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 2 * DAY })
    await deletePoint(repo, point)
    const gc = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect(gc.keptLocked).toBe(0)
    expect(gc.chunksDeleted).toBe(chunks.length)
    const left = await filesUnder(root)
    // The point's objects, its point index entry and the chunks; the index's `ready` stays.
    const points = left.filter((p) => p.includes('/chunks/') || p.includes('/points/'))
    expect(points).toEqual([join(root, 'index', 'points', 'ready')])
  })

  it('keeps an unreferenced chunk until its date, and extends a shared chunk to the newer point', async () => {
    const root = scratch.path('shared')
    const repo = await Repository.create(new LocalStore(root), { chunkSize: CHUNK, immutable })
    const disk = makeDisk(3, CHUNK)
    const first = await backupDisk(repo, disk, { timing })
    await first.retention
    const lock = repo.store.objectLock!
    const chunkKeys: string[] = []
    for await (const info of repo.store.list('chunks/')) chunkKeys.push(info.key)
    const before = await lock.retention(chunkKeys[0]!)

    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + DAY / 2 })
    const second = await backupDisk(repo, disk, { timing, base: first })
    expect(await second.retention).toBe(chunkKeys.length)
    const newest = (await lock.retention(manifestKey(second)))!.until
    for (const key of chunkKeys) expect((await lock.retention(key))!.until.getTime()).toBe(newest.getTime())

    // Between the dates: a shared chunk is held by the newer point's date, not the older's.
    vi.setSystemTime(before!.until.getTime() + 1000)
    await deletePoint(repo, first)
    await expect(repo.store.delete(chunkKeys[0]!)).rejects.toMatchObject({ code: 'OBJECT_LOCKED' })
    const gc = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect(gc.chunksDeleted).toBe(0)
    expect((await restoreDisk(repo, second)).equals(disk)).toBe(true)
  })

  it('refuses a file system without the attribute (ramfs), at init, leaving nothing', async () => {
    const mountPoint = scratch.path('ramfs')
    await run('mkdir', ['-p', mountPoint])
    await run('mount', ['-t', 'ramfs', 'strata-test', mountPoint])
    try {
      const store = new LocalStore(join(mountPoint, 'repo'))
      await expect(Repository.create(store, { chunkSize: CHUNK, immutable })).rejects.toMatchObject({
        code: 'OBJECT_LOCK_REQUIRED',
        message: expect.stringContaining('file system does not support the immutable attribute'),
      })
      for await (const info of store.list('')) expect.fail(`init left '${info.key}'`)
    } finally {
      await run('umount', [mountPoint])
    }
  })

  /** Runs `code` (an ES module body with LocalStore, Repository and `root`) in a child under `setpriv`. */
  async function inChild(setpriv: string[], root: string, code: string): Promise<string> {
    const script = `
      import { LocalStore } from '${new URL('../storage/index.ts', import.meta.url).pathname}'
      import { Repository } from '${new URL('./repository.ts', import.meta.url).pathname}'
      const root = process.argv[1]
      try { ${code} } catch (e) { console.log(e.code + ': ' + e.message) }`
    const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script, root]
    return (await run('setpriv', [...setpriv, ...node])).stdout
  }

  it('refuses a process without CAP_LINUX_IMMUTABLE (a non-root Strata) at open', async () => {
    const root = scratch.path('no-cap')
    await Repository.create(new LocalStore(root), { chunkSize: CHUNK, immutable })
    const dropped = ['--inh-caps=-linux_immutable', '--bounding-set=-linux_immutable']
    const stdout = await inChild(
      dropped,
      root,
      `await Repository.open(new LocalStore(root)); console.log('opened')`,
    )
    expect(stdout).toContain('OBJECT_LOCK_REQUIRED')
    expect(stdout).toContain('needs root, or CAP_LINUX_IMMUTABLE')
  })

  it('works for a non-root user given CAP_LINUX_IMMUTABLE alone (the packaged service)', async () => {
    const root = scratch.path('cap-only')
    await chmod(scratch.dir, 0o711) // nobody must reach its directory
    await mkdir(root)
    await chown(root, 65534, 65534)
    const capOnly = [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=-all,+linux_immutable',
      '--ambient-caps=+linux_immutable',
      '--bounding-set=-all,+linux_immutable',
    ]
    const code = `
      const immutable = { seconds: 86400, mode: 'compliance' }
      await Repository.create(new LocalStore(root), { chunkSize: ${CHUNK}, immutable })
      const store = new LocalStore(root)
      await Repository.open(store)
      await store.put('chunks/aa/aa', new Uint8Array(8), { retain: { mode: 'COMPLIANCE', until: new Date(Date.now() + 86400000) } })
      await store.delete('chunks/aa/aa').catch((e) => console.log('delete: ' + e.code))
      console.log('opened')`
    const stdout = await inChild(capOnly, root, code)
    expect(stdout).toContain('delete: OBJECT_LOCKED')
    expect(stdout).toContain('opened')
    expect(await immutableFlag(join(root, 'chunks', 'aa', 'aa'))).toBe(true)
  })
})
