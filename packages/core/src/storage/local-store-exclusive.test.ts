// A local store without hard links (forced into exclusive mode here, as an SMB share puts it there by
// itself): the conformance suite, the probe, and the claim protocol against racing processes, killed
// writers, stale claims of other machines and readers polling while an object is written.
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../testing/index.js'
import { describeObjectStoreConformance } from './conformance.js'
import { checkAllWhole, killWriterRepeatedly } from './fixtures/crash-writer.js'
import { claimPath, publishExclusive } from './local-claim.js'
import { LocalStore } from './local-store.js'
import { openStore } from './open-store.js'

describeObjectStoreConformance('local directory, link disabled (exclusive mode)', async () => {
  const scratch = await scratchDir('strata-local-exclusive-')
  const store = new LocalStore(scratch.path('repo'), { createMode: 'exclusive' })
  return { store, cleanup: () => scratch[Symbol.asyncDispose]() }
})

const text = (s: string) => new TextEncoder().encode(s)

function child(script: string, args: string[]): ChildProcess {
  return fork(join(import.meta.dirname, 'fixtures', script), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
}

const nextMessage = (c: ChildProcess) =>
  new Promise<string>((resolve, reject) => {
    c.once('message', (m) => resolve(String(m)))
    c.once('exit', (code) => reject(new Error(`child exited with ${code}`)))
  })

describe('LocalStore probe', () => {
  it('finds hard links, O_EXCL and fine timestamps on a local file system, and leaves nothing', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.dir)
    expect(store.capabilities.createMode).toBeUndefined()
    const traits = await store.probe()
    expect(traits).toMatchObject({ hardLinks: true, exclusiveCreate: true, clockSkewMs: 0 })
    expect(traits?.timestampResolutionMs).toBeLessThanOrEqual(1)
    expect(store.capabilities).toMatchObject({ createMode: 'link', fileSystem: traits })
    expect(await readdir(scratch.dir)).toEqual([])
  })

  it('reports the forced mode, and probes nothing where the root does not exist yet', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.path('later'), { createMode: 'exclusive' })
    expect(await store.probe()).toBeUndefined()
    expect(store.capabilities.createMode).toBe('exclusive')
    await store.put('k', text('x'), { ifNoneMatch: true })
    expect(store.capabilities.fileSystem).toMatchObject({ hardLinks: true })
  })

  it('is run by openStore, so that the mode is known as soon as the store is open', async () => {
    await using scratch = await scratchDir()
    const store = await openStore(scratch.dir, {})
    expect(store.capabilities).toMatchObject({ createMode: 'link', fileSystem: { hardLinks: true } })
  })
})

describe('LocalStore in exclusive mode', () => {
  it('leaves no temp or claim file behind, after a create, an overwrite and a refused create', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.dir, { createMode: 'exclusive' })
    await store.put('d/k', text('1'), { ifNoneMatch: true })
    await store.put('d/k', text('2'))
    await expect(store.put('d/k', text('3'), { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    })
    expect(await readdir(scratch.path('d'))).toEqual(['k'])
    expect(new TextDecoder().decode(await store.get('d/k'))).toBe('2')
  })

  it('lets exactly one of several processes racing for one key win', async () => {
    await using scratch = await scratchDir()
    const children = Array.from({ length: 4 }, (_, i) =>
      child('create-once.ts', [scratch.dir, 'lock', `${i}`]),
    )
    await Promise.all(children.map(nextMessage)) // all ready
    const answers = await Promise.all(
      children.map((c) => {
        const answer = nextMessage(c)
        c.send('go')
        return answer
      }),
    )
    expect(answers.filter((a) => a === 'OK')).toHaveLength(1)
    expect(answers.filter((a) => a === 'ALREADY_EXISTS')).toHaveLength(3)
    const stored = new TextDecoder().decode(await new LocalStore(scratch.dir).get('lock'))
    expect(stored).toBe(`writer ${answers.indexOf('OK')}`)
  }, 60_000)

  it('takes over at once the claim of a writer of this machine that was killed', async () => {
    await using scratch = await scratchDir()
    const holder = child('claim-and-hang.ts', [scratch.path('k')])
    expect(await nextMessage(holder)).toBe('claimed')
    holder.kill('SIGKILL')
    await new Promise((resolve) => holder.once('exit', resolve))
    const started = performance.now()
    await new LocalStore(scratch.dir, { createMode: 'exclusive' }).put('k', text('mine'), {
      ifNoneMatch: true,
    })
    expect(performance.now() - started).toBeLessThan(5_000) // far below the 60 s lease
    expect(await readdir(scratch.dir)).toEqual(['k'])
  }, 30_000)

  it('waits for a live holder, and gets ALREADY_EXISTS only once its object is there', async () => {
    await using scratch = await scratchDir()
    const holder = child('claim-and-hang.ts', [scratch.path('k')])
    try {
      expect(await nextMessage(holder)).toBe('claimed')
      const store = new LocalStore(scratch.dir, { createMode: 'exclusive' })
      let settled: string | undefined
      const put = store.put('k', text('loser'), { ifNoneMatch: true }).then(
        () => (settled = 'OK'),
        (error: { code?: string }) => (settled = error.code),
      )
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(settled).toBeUndefined() // neither won nor told "exists" while the object is absent
      await writeFile(scratch.path('k'), 'winner') // the holder's rename
      await put
      expect(settled).toBe('ALREADY_EXISTS')
    } finally {
      holder.kill('SIGKILL')
    }
  }, 30_000)

  it('breaks the claim of another machine only after it stayed unchanged for the lease', async () => {
    await using scratch = await scratchDir()
    const path = scratch.path('k')
    const foreign = JSON.stringify({ owner: 'elsewhere boot ns', pid: process.pid, token: 'theirs' })
    await writeFile(claimPath(path), foreign)
    const temp = scratch.path('.strata-tmp-mine')
    await writeFile(temp, 'mine')
    const started = performance.now()
    await publishExclusive(temp, path, { key: 'k', storeName: 'test', leaseMs: 400 })
    expect(performance.now() - started).toBeGreaterThanOrEqual(400)
    expect(await readdir(scratch.dir)).toEqual(['k'])
  })

  it('is aborted while waiting for a claim, and leaves its temp file to nobody', async () => {
    await using scratch = await scratchDir()
    const path = scratch.path('k')
    await writeFile(claimPath(path), JSON.stringify({ owner: 'elsewhere', pid: 1, token: 't' }))
    const store = new LocalStore(scratch.dir, { createMode: 'exclusive' })
    const put = store.put('k', text('x'), { ifNoneMatch: true, signal: AbortSignal.timeout(300) })
    await expect(put).rejects.toMatchObject({ code: 'ABORTED' })
    expect(await readdir(scratch.dir)).toEqual([claimPath(path).split('/').at(-1)])
  })

  it('never lets a reader see part of an object being created', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.dir, { createMode: 'exclusive', directWrites: false })
    const seen = { absent: 0, whole: 0, other: 0 }
    for (let round = 0; round < 6; round++) {
      const data = new Uint8Array(randomBytes(8 * 1024 * 1024))
      let done = false
      const put = store.put(`big${round}`, data, { ifNoneMatch: true }).finally(() => (done = true))
      const reader = async () => {
        while (!done) {
          const read = await store.getRange(`big${round}`, 0, data.length).catch(() => undefined)
          if (read === undefined) seen.absent++
          else if (Buffer.from(read).equals(data)) seen.whole++
          else seen.other++
        }
      }
      await Promise.all([put, reader(), reader(), reader()])
    }
    expect(seen.other).toBe(0)
    expect(seen.absent).toBeGreaterThan(0)
  })

  it('keeps every object whole when the writer is SIGKILLed mid-put, many times', async () => {
    await using scratch = await scratchDir()
    const root = scratch.path('repo')
    await killWriterRepeatedly(root, 8, process.env, 'exclusive')
    const { checked, bad } = await checkAllWhole(new LocalStore(root))
    expect(bad).toEqual([])
    expect(checked).toBeGreaterThanOrEqual(8)
    const leftovers = (await readdir(root, { recursive: true })).filter((p) => p.includes('.strata-tmp-'))
    expect(leftovers.length).toBeGreaterThan(0)
  }, 60_000)
})
