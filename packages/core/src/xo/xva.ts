// A full backup's XVA read as disks (xo-backups.md §1.4): ova.xml first, then each disk's data in
// `Ref:n/NNNNNNNN` entries of 1 MiB (all-zero entries left out), each followed by its checksum entry
// (`.xxhash`: XXH64 in hex, or `.checksum`: SHA-1). Every entry is checked; entries come in order.
// An XVA is read front to back, always to its end (where encryption and the md5 are checked).
import { createHash } from 'node:crypto'
import xxhash from 'xxhash-wasm'
import type { BlocksOptions, XoDisk, XoDiskBlock } from './disk.js'
import { XoError } from './errors.js'
import { parseOva, XVA_CHUNK, type Ova, type XvaDiskInfo } from './format/ova.js'
import { tarEntries, type TarEntry } from './format/tar.js'
import type { XoRemote } from './remote.js'
import { xvaTarBytes } from './xva-stream.js'

/** ova.xml may be large for a VM with many objects; data entries are 1 MiB. */
const MAX_ENTRY = 64 * 1024 * 1024
const ENTRY = /^(Ref:\d+)\/(\d{8})$/

export type XvaEvent =
  | { readonly kind: 'ova'; readonly ova: Ova }
  | { readonly kind: 'chunk'; readonly disk: XvaDiskInfo; readonly index: number; readonly data: Uint8Array }

/** Every event of the XVA, checked; ends only once the whole file has been read and verified. */
export async function* readXva(
  remote: XoRemote,
  path: string,
  signal?: AbortSignal,
): AsyncGenerator<XvaEvent> {
  const what = `XVA ${path}`
  const { h64Raw } = await xxhash()
  const entries = tarEntries(xvaTarBytes(remote, path, signal), MAX_ENTRY, what)
  const first = await entries.next()
  if (first.done === true || first.value.name !== 'ova.xml') {
    throw new XoError('XO_XVA_INVALID', `${what} does not start with ova.xml`)
  }
  const ova = parseOva(Buffer.from(first.value.data).toString('utf8'), what)
  yield { kind: 'ova', ova }
  const last = new Map<string, number>()
  let pending: Pending | undefined
  for await (const entry of entries) {
    if (entry.type !== '0') continue
    if (pending === undefined) {
      pending = dataEntry(entry, ova, last, what)
      continue
    }
    checkSum(entry.name, entry.data, pending, h64Raw, what)
    yield { kind: 'chunk', disk: pending.disk, index: pending.index, data: pending.data }
    pending = undefined
  }
  if (pending !== undefined)
    throw new XoError('XO_XVA_INVALID', `${what}: ${pending.name} has no checksum entry`)
}

interface Pending {
  readonly disk: XvaDiskInfo
  readonly index: number
  readonly data: Uint8Array
  readonly name: string
}

/** A data entry: of a disk of ova.xml, after the disk's previous entries, inside the disk. */
function dataEntry(entry: TarEntry, ova: Ova, last: Map<string, number>, what: string): Pending {
  const m = ENTRY.exec(entry.name)
  if (m === null) throw new XoError('XO_XVA_INVALID', `${what}: unexpected entry ${entry.name}`)
  const disk = ova.disks.find((d) => d.id === m[1])
  if (disk === undefined)
    throw new XoError('XO_XVA_INVALID', `${what}: ${entry.name} belongs to no disk of ova.xml`)
  const index = Number(m[2])
  const { length } = entry.data
  if (index <= (last.get(disk.id) ?? -1) || length > XVA_CHUNK || index * XVA_CHUNK + length > disk.size) {
    throw new XoError('XO_XVA_INVALID', `${what}: ${entry.name} is out of order or past the end of its disk`)
  }
  last.set(disk.id, index)
  return { disk, index, data: entry.data, name: entry.name }
}

function checkSum(
  name: string,
  sum: Uint8Array,
  chunk: { data: Uint8Array; name: string },
  h64Raw: (data: Uint8Array) => bigint,
  what: string,
): void {
  const expected = Buffer.from(sum).toString('latin1').trim().toLowerCase()
  let actual: string
  if (name === `${chunk.name}.xxhash`) actual = h64Raw(chunk.data).toString(16).padStart(16, '0')
  else if (name === `${chunk.name}.checksum`) actual = createHash('sha1').update(chunk.data).digest('hex')
  else throw new XoError('XO_XVA_INVALID', `${what}: ${chunk.name} is followed by ${name}, not its checksum`)
  if (actual !== expected) {
    throw new XoError('XO_CHECKSUM_MISMATCH', `${what}: ${chunk.name} does not match its checksum`)
  }
}

/** ova.xml alone: the start of the XVA, not authenticated (callers use it on clear remotes only). */
export async function readOva(remote: XoRemote, path: string, signal?: AbortSignal): Promise<Ova> {
  const events = readXva(remote, path, signal)
  try {
    const first = await events.next()
    return (first.value as { ova: Ova }).ova
  } finally {
    await events.return(undefined)
  }
}

/**
 * ova.xml, to be trusted: on an encrypted remote only once the whole XVA has been read and authenticated
 * (a clear remote has nothing to authenticate it with: its start is enough).
 */
export async function readAuthenticatedOva(
  remote: XoRemote,
  path: string,
  signal?: AbortSignal,
): Promise<Ova> {
  if (!remote.encrypted) return readOva(remote, path, signal)
  let ova: Ova | undefined
  for await (const event of readXva(remote, path, signal)) if (event.kind === 'ova') ova = event.ova
  return ova!
}

/**
 * One disk of an XVA, in blocks of 2 MiB (two entries each). Opened by a first pass over the whole
 * XVA, which finds the disk and its entries and authenticates the file before a byte is used.
 */
export class XvaDisk implements XoDisk {
  readonly blockSize = 2 * XVA_CHUNK

  private constructor(
    readonly remote: XoRemote,
    readonly path: string,
    readonly info: XvaDiskInfo,
    readonly description: string,
    readonly present: readonly number[],
  ) {}

  static async open(remote: XoRemote, path: string, disk: number, signal?: AbortSignal): Promise<XvaDisk> {
    let info: XvaDiskInfo | undefined
    const blocks = new Set<number>()
    for await (const event of readXva(remote, path, signal)) {
      if (event.kind === 'ova') {
        info = event.ova.disks[disk]
        if (info === undefined) {
          throw new XoError(
            'XO_DISK_NOT_FOUND',
            `XVA ${path} has ${event.ova.disks.length} disks, no disk ${disk}`,
          )
        }
      } else if (event.disk === info) blocks.add(event.index >> 1)
    }
    const name = String(info!.vdi.name_label ?? info!.id)
    return new XvaDisk(
      remote,
      path,
      info!,
      `disk ${disk} (${name}) of XVA ${path}`,
      [...blocks].sort((a, b) => a - b),
    )
  }

  get size(): number {
    return this.info.size
  }

  async presentBlocks(): Promise<readonly number[]> {
    return this.present
  }

  async *blocks(options: BlocksOptions = {}): AsyncGenerator<XoDiskBlock> {
    let block: { index: number; data: Uint8Array } | undefined
    const seen: number[] = []
    for await (const event of readXva(this.remote, this.path, options.signal)) {
      if (event.kind !== 'chunk' || event.disk.id !== this.info.id) continue
      const index = event.index >> 1
      if (block !== undefined && block.index !== index) {
        yield block
        block = undefined
      }
      if (block === undefined) seen.push(index)
      block ??= { index, data: new Uint8Array(this.blockSize) }
      block.data.set(event.data, (event.index & 1) * XVA_CHUNK)
    }
    if (block !== undefined) yield block
    if (seen.length !== this.present.length || seen.some((b, i) => b !== this.present[i])) {
      throw new XoError('XO_XVA_INVALID', `XVA ${this.path} changed while it was read`)
    }
  }
}
