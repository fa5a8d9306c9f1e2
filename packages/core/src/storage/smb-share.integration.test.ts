// The local store on a real SMB share: Samba's smbd on loopback, mounted through smbnetfs (FUSE), since
// no kernel SMB client is at hand. Such a share has no hard links or symbolic links, replaces a name by
// unlink then rename, refuses RENAME_NOREPLACE and keeps times to the second: the store must find that
// out by itself (its probe) and still pass the whole suite, keep killed writers' objects whole and let
// exactly one of racing processes create a key.
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startSmbShare, type SmbShare } from '../testing/index.js'
import { describeObjectStoreConformance } from './conformance.js'
import { checkAllWhole, killWriterRepeatedly } from './fixtures/crash-writer.js'
import { LocalStore } from './local-store.js'
import { openStore } from './open-store.js'

let started: Promise<SmbShare> | undefined
const share = () => (started ??= startSmbShare())
afterAll(async () => {
  await (await started)?.stop()
})

/** A fresh directory on the share, as a client sees it. */
async function onShare(name: string): Promise<string> {
  const dir = join((await share()).path, `${name}-${randomBytes(4).toString('hex')}`)
  await mkdir(dir)
  return dir
}

describeObjectStoreConformance('local directory on an SMB share (smbd + smbnetfs)', async () => {
  const store = await openStore(await onShare('conformance'), {})
  expect(store.capabilities.createMode).toBe('exclusive')
  return { store }
})

describe('LocalStore on an SMB share', () => {
  it('finds no hard links, a working O_EXCL and one-second times, and creates objects once', async () => {
    const store = await openStore(await onShare('probe'), {}, { concurrency: 4 })
    expect(store.capabilities).toMatchObject({
      conditionalCreate: true,
      createMode: 'exclusive',
      fileSystem: {
        type: 'fuse',
        remote: true,
        caseSensitive: true,
        hardLinks: false,
        exclusiveCreate: true,
        timestampResolutionMs: 1000,
      },
    })
    await store.put('d/k', new TextEncoder().encode('first'), { ifNoneMatch: true })
    await expect(store.put('d/k', new Uint8Array(1), { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    })
  }, 60_000)

  it('finds that a share as Samba serves it by default does not tell names apart by case', async () => {
    const root = join((await share()).caseInsensitivePath, `probe-${randomBytes(4).toString('hex')}`)
    await mkdir(root)
    const store = new LocalStore(root)
    expect(await store.probe()).toMatchObject({ caseSensitive: false, hardLinks: false })
  }, 60_000)

  it('lets exactly one of several processes racing for one key win', async () => {
    const root = await onShare('race')
    const children = Array.from({ length: 4 }, (_, i) =>
      fork(join(import.meta.dirname, 'fixtures', 'create-once.ts'), [root, 'lock', `${i}`], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      }),
    )
    const next = (c: (typeof children)[number]) =>
      new Promise<string>((r) => c.once('message', (m) => r(String(m))))
    await Promise.all(children.map(next))
    const answers = await Promise.all(children.map((c) => (c.send('go'), next(c))))
    expect(answers.filter((a) => a === 'OK')).toHaveLength(1)
    expect(answers.filter((a) => a === 'ALREADY_EXISTS')).toHaveLength(3)
    const stored = new TextDecoder().decode(await new LocalStore(root).get('lock'))
    expect(stored).toBe(`writer ${answers.indexOf('OK')}`)
  }, 60_000)

  it('keeps every object whole when the writer is SIGKILLed mid-put, on the server too', async () => {
    const s = await share()
    const root = await onShare('killed')
    await killWriterRepeatedly(root, 6)
    const { checked, bad } = await checkAllWhole(new LocalStore(root))
    expect(bad).toEqual([])
    expect(checked).toBeGreaterThanOrEqual(6)
    // What the server holds under the keys is what a client reads.
    const server = new LocalStore(join(s.shareDir, root.split('/').at(-1) ?? ''))
    expect(await checkAllWhole(server)).toEqual({ checked, bad: [] })
    expect((await readFile(join(s.dir, 'smb.conf'), 'utf8')).includes(s.password)).toBe(false)
  }, 120_000)
})
