// The XO reader over a remote built from the format description, in memory: every restore point listed
// as it should be (usable or not, with the reason), every usable one restored byte for byte, on a clear
// remote and on remotes encrypted with each algorithm; the remote is never written to.
import { beforeAll, describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { listRemote, openPoint, storeFiles, XoRemote, type XoListing } from './index.js'
import { restorePoint, storeDigest } from './testing/read-back.js'
import { storeSink } from './testing/remote-builder.js'
import { buildScenario, VM, type Scenario } from './testing/scenario.js'

const KEY = 'an XO key of exactly 32 chars!!!'

const remotes = [
  { name: 'clear', options: {} },
  { name: 'chacha20-poly1305', options: { encryption: 'chacha20-poly1305', key: KEY } },
  { name: 'aes-256-gcm', options: { encryption: 'aes-256-gcm', key: KEY } },
] as const

describe.each(remotes)('an XO remote ($name)', ({ options }) => {
  const key = 'key' in options ? options.key : undefined
  let built: { store: MemoryStore; scenario: Scenario; listing: XoListing }
  beforeAll(async () => {
    const store = new MemoryStore()
    const scenario = await buildScenario(storeSink(store), options)
    const remote = await XoRemote.open(storeFiles(store), { key: key && Buffer.from(key) })
    built = { store, scenario, listing: await listRemote(remote) }
  })
  const setup = async () => built

  it('lists every VM and restore point, the broken ones with their reason', async () => {
    const { scenario, listing } = await setup()
    expect(listing.encryption).toBe('encryption' in options ? options.encryption : 'none')
    expect(listing.vms.map((v) => v.uuid).sort()).toEqual(Object.values(VM).sort())
    expect(listing.vms.find((v) => v.uuid === VM.delta)).toMatchObject({ name: 'web', points: 3 })
    expect(listing.points.map((p) => p.id).sort()).toEqual([...scenario.points.keys()].sort())
    for (const [id, expected] of scenario.points) {
      const point = listing.points.find((p) => p.id === id)!
      expect(point, id).toMatchObject({ vm: expected.vm, mode: expected.mode, timestamp: expected.timestamp })
      if (expected.unusable !== undefined) {
        expect(point.usable, id).toBe(false)
        expect(point.reason, id).toMatch(expected.unusable)
        continue
      }
      expect(point.usable, `${id}: ${point.reason}`).toBe(true)
      expect(point.jobId).toMatch(/^f00dcafe/)
      if (expected.mode === 'full' && key !== undefined) expect(point.disks).toEqual([])
      else expect(point.disks.map((d) => d.size)).toEqual(expected.disks.map((d) => d.length))
    }
    const delta = listing.points.filter((p) => p.vm === VM.delta)
    expect(delta.map((p) => p.disks[0]!.chainLength)).toEqual([1, 2, 3])
    expect(delta[2]!.notes.join('\n')).toMatch(/merge was interrupted .*merge\.json/)
    const notes = (vm: string) => listing.vms.find((v) => v.uuid === vm)!.notes.join('\n')
    expect(notes(VM.delta)).toMatch(/cache\.json\.gz lists 1 backup.* no metadata file/)
    expect(notes(VM.delta)).toMatch(/cache\.json\.gz misses 1 backup/)
    expect(notes(VM.full)).toMatch(/interrupted XVA upload/)
    expect(listing.notes.join('\n')).toMatch(/1 clean-up task/)
  })

  it('restores every usable point byte for byte, and never writes to the remote', async () => {
    const { store, scenario } = await setup()
    const before = await storeDigest(store)
    for (const [id, expected] of scenario.points) {
      if (expected.unusable !== undefined) continue
      const restore = restorePoint(storeFiles(store), id, Math.max(1, expected.disks.length), key)
      if (expected.failsWith !== undefined) {
        await expect(restore, id).rejects.toMatchObject({ code: expected.failsWith })
        continue
      }
      const disks = await restore
      expect(disks.length, id).toBe(expected.disks.length)
      disks.forEach((disk, i) => expect(disk.equals(expected.disks[i]!), `${id} disk ${i}`).toBe(true))
    }
    expect(await storeDigest(store)).toBe(before)
  })

  it('refuses to open an unusable point, naming why', async () => {
    const { store, scenario } = await setup()
    const remote = await XoRemote.open(storeFiles(store), { key: key && Buffer.from(key) })
    const [id, expected] = [...scenario.points].find(([, p]) => p.unusable?.source.includes('another alias'))!
    const error = await openPoint(remote, id).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'XO_POINT_UNUSABLE', details: { cause: 'XO_ALIAS_INVALID' } })
    expect(String(error)).toMatch(expected.unusable!)
    await expect(openPoint(remote, `${VM.delta}/19990101T000000Z`)).rejects.toMatchObject({
      code: 'XO_BACKUP_NOT_FOUND',
    })
    await expect(openPoint(remote, '../../etc/passwd')).rejects.toMatchObject({ code: 'XO_BACKUP_NOT_FOUND' })
  })
})

describe('the key of an encrypted XO remote', () => {
  it("is required, must be 32 bytes, and must be this remote's", async () => {
    const store = new MemoryStore()
    await buildScenario(storeSink(store), { encryption: 'chacha20-poly1305', key: KEY })
    const files = storeFiles(store)
    await expect(XoRemote.open(files)).rejects.toMatchObject({ code: 'XO_KEY_REQUIRED' })
    await expect(XoRemote.open(files, { key: Buffer.from('short') })).rejects.toMatchObject({
      code: 'XO_KEY_INVALID',
    })
    const wrong = await XoRemote.open(files, { key: Buffer.from(KEY.replace('XO', 'xo')) }).catch(
      (e: unknown) => e,
    )
    expect(wrong).toMatchObject({ code: 'XO_KEY_WRONG' })
    expect(String(wrong)).not.toContain(KEY)
    await expect(XoRemote.open(files, { key: Buffer.from(KEY) })).resolves.toBeInstanceOf(XoRemote)
  })
})
