// Reading what a test remote holds back, the way a restore would, to compare with what it was built from.
import { createHash } from 'node:crypto'
import type { ObjectStore } from '../../storage/index.js'
import type { XoDisk } from '../disk.js'
import { XoRemote } from '../remote.js'
import type { RemoteFiles } from '../remote-files.js'
import { openPoint } from '../point.js'

/** The disk's raw image, from its blocks. */
export async function rawImage(disk: XoDisk, signal?: AbortSignal): Promise<Buffer> {
  const out = Buffer.alloc(disk.size)
  for await (const { index, data } of disk.blocks({ signal })) {
    const offset = index * disk.blockSize
    out.set(data.subarray(0, Math.min(data.length, disk.size - offset)), offset)
  }
  return out
}

/** Disks 0 to count - 1 of a point, raw (an encrypted XVA lists no disks before it is read). */
export async function restorePoint(
  files: RemoteFiles,
  id: string,
  count: number,
  key?: string,
): Promise<Buffer[]> {
  const remote = await XoRemote.open(files, { key: key === undefined ? undefined : Buffer.from(key) })
  const point = await openPoint(remote, id)
  const disks: Buffer[] = []
  for (let i = 0; i < count; i++) disks.push(await rawImage(await point.openDisk(i)))
  return disks
}

/** A digest of every object in a store: equal before and after means nothing was written. */
export async function storeDigest(store: ObjectStore): Promise<string> {
  const hash = createHash('sha256')
  for await (const { key } of store.list('')) hash.update(key).update(await store.get(key))
  return hash.digest('hex')
}
