// VDI contents as chains of nodes, like VHD files on an SR: each node is a sparse file plus the set of
// 2 MiB blocks it holds; a read walks leaf → root per block; a write copies the block up into the leaf
// first (copy-on-write at block granularity). A snapshot freezes the leaf and gives both the VDI and
// the snapshot a new empty leaf over it, so "which blocks changed since the base" is exactly the blocks
// held by the nodes in one chain but not the other (xapi.md §4.2, §10.3).
import { randomUUID } from 'node:crypto'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { StrataError, readFully, type DirectWrites } from '@strata/core/shared'
import { DirectPool } from './direct-pool.js'

export const BLOCK_SIZE = 2 * 1024 * 1024

export interface DiskNode {
  id: string
  parent: string | undefined
  size: number
  blocks: Set<number>
  /** VHD unique id of the node (a base export's parent_unique_id). */
  uid: string
  /** Where the node's blocks are stored (the SR): what a group's space limit counts. */
  group?: string
}

/** A write that needs a new block in a group (an SR) that has no room left (ENOSPC). */
export class DiskFullError extends StrataError {
  constructor(readonly group: string) {
    super('DISK_FULL', `no space left for a new block in ${group}`, { details: { group } })
  }
}

export interface DiskStoreState {
  nodes: { id: string; parent?: string; size: number; blocks: number[]; uid: string; group?: string }[]
  leaves: Record<string, string>
}

export class DiskStore {
  readonly nodes = new Map<string, DiskNode>()
  /** VDI ref → its leaf node. */
  readonly leaves = new Map<string, string>()
  readonly #files = new Map<string, Promise<FileHandle>>()
  readonly #writes = new Map<string, Promise<void>>()
  /** Direct-I/O handles for whole-block writes, by node. */
  readonly #direct = new Map<string, DirectPool>()
  /** Whole-block direct writes in flight, by VDI: block → its completion. */
  readonly #inFlight = new Map<string, Map<number, Promise<void>>>()
  /** Blocks held per group (SR). */
  readonly #groupBlocks = new Map<string, number>()
  /** New blocks promised to direct writes in flight, per group: counted against its limit. */
  readonly #groupReserved = new Map<string, number>()
  /** The most bytes a group may hold (an SR's physical size); undefined: no limit. */
  limitOf: (group: string) => number | undefined = () => undefined

  constructor(readonly dir: string) {}

  /** Bytes of blocks held by the nodes of a group: an SR's physical utilisation. */
  groupBytes(group: string): number {
    return (this.#groupBlocks.get(group) ?? 0) * BLOCK_SIZE
  }

  /** Bytes of blocks held by the nodes of a VDI's chain that no other VDI shares (its leaf). */
  leafBytes(vdi: string): number {
    return this.#leaf(vdi).blocks.size * BLOCK_SIZE
  }

  path(node: string): string {
    return join(this.dir, `${node}.img`)
  }

  async create(vdi: string, size: number, group?: string): Promise<void> {
    const node = this.#node(undefined, size, group)
    const fh = await this.#file(node.id)
    await fh.truncate(size)
    this.leaves.set(vdi, node.id)
  }

  has(vdi: string): boolean {
    return this.leaves.has(vdi)
  }

  size(vdi: string): number {
    return this.#leaf(vdi).size
  }

  /** Leaf → root. */
  chain(vdi: string): DiskNode[] {
    const out: DiskNode[] = []
    for (
      let n: DiskNode | undefined = this.#leaf(vdi);
      n !== undefined;
      n = n.parent ? this.nodes.get(n.parent) : undefined
    ) {
      out.push(n)
    }
    return out
  }

  /** Blocks held by any node of the chain (what a VHD export without base includes). */
  allocated(vdi: string): number[] {
    const set = new Set<number>()
    for (const n of this.chain(vdi)) for (const b of n.blocks) set.add(b)
    return [...set].sort((a, b) => a - b)
  }

  /** Blocks held by nodes in exactly one of the two chains (a VHD export with base). */
  difference(vdi: string, base: string): number[] {
    const a = this.chain(vdi)
    const b = this.chain(base)
    const ids = new Set(b.map((n) => n.id))
    const aIds = new Set(a.map((n) => n.id))
    const set = new Set<number>()
    for (const n of [...a.filter((n) => !ids.has(n.id)), ...b.filter((n) => !aIds.has(n.id))]) {
      for (const blk of n.blocks) set.add(blk)
    }
    return [...set].sort((x, y) => x - y)
  }

  /** Whether two VDIs share a node (same VHD tree: a base export is meaningful). */
  related(vdi: string, base: string): boolean {
    const ids = new Set(this.chain(base).map((n) => n.id))
    return this.chain(vdi).some((n) => ids.has(n.id))
  }

  leafUid(vdi: string): string {
    return this.#leaf(vdi).uid
  }

  /** `length` bytes at `offset`, into `into` (of that length) when given. */
  async read(vdi: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    // Not zero-filled up front: every byte is either read from a node or set to zero (a hole).
    const out = into?.length === length ? into : Buffer.allocUnsafe(length)
    const chain = this.chain(vdi)
    for (let pos = offset; pos < offset + length;) {
      const block = Math.floor(pos / BLOCK_SIZE)
      const end = Math.min(offset + length, (block + 1) * BLOCK_SIZE)
      const holder = chain.find((n) => n.blocks.has(block))
      if (holder === undefined) out.fill(0, pos - offset, end - offset)
      else {
        // The files are sized to their node: a short read is past its end, which reads as zeros.
        const at = pos - offset
        const read = await readFully(await this.#file(holder.id), out, at, end - pos, pos)
        out.fill(0, at + read, at + end - pos)
      }
      pos = end
    }
    return out
  }

  /**
   * Writes start in order per VDI: a copy-up reads the block from the chain before writing it to the
   * leaf, and a concurrent write to the same block in between would be lost. `direct`: a whole block
   * goes around the page cache (for imports, which write a disk once: the guest's own writes and what is
   * read back soon stay cached), and up to DIRECT_DEPTH of them run at once, each after the same block's
   * previous write; any other write starts once every direct write in flight has landed.
   */
  write(vdi: string, offset: number, data: Uint8Array, options: { direct?: boolean } = {}): Promise<void> {
    const previous = this.#writes.get(vdi) ?? Promise.resolve()
    // The queue waits for a direct write's start only (its room reserved, a handle taken): an object,
    // so that awaiting the step does not await the write itself.
    const started = previous.then(() => this.#start(vdi, offset, data, options.direct === true))
    const settled = started.then(noop, noop)
    this.#writes.set(vdi, settled)
    void settled.then(() => {
      if (this.#writes.get(vdi) === settled) this.#writes.delete(vdi)
    })
    return started.then((s) => s.done)
  }

  async #start(
    vdi: string,
    offset: number,
    data: Uint8Array,
    direct: boolean,
  ): Promise<{ done: Promise<void> }> {
    const leaf = this.#leaf(vdi)
    if (offset < 0 || offset + data.length > leaf.size)
      throw new RangeError(`write beyond the end of VDI ${vdi}`)
    const flight = this.#flightOf(vdi)
    const block = Math.floor(offset / BLOCK_SIZE)
    if (direct && offset % BLOCK_SIZE === 0 && data.length === BLOCK_SIZE) {
      await flight.get(block)?.catch(() => undefined) // the block's earlier write lands first
      const pool = this.#poolOf(leaf.id)
      const handle = await pool.take(offset)
      if (handle !== undefined) {
        const done = this.#directWrite(leaf, pool, handle, data, offset)
        const tracked = done.catch(() => undefined)
        flight.set(block, tracked)
        void tracked.then(() => flight.get(block) === tracked && flight.delete(block))
        return { done }
      }
    }
    await this.settle(vdi)
    await this.#write(vdi, leaf, offset, data)
    return { done: Promise.resolve() }
  }

  /** After an import: once its writes landed, the leaf's direct handles and their buffers are let go. */
  async idle(vdi: string): Promise<void> {
    await this.settle(vdi)
    const node = this.leaves.get(vdi)
    const pool = node === undefined ? undefined : this.#direct.get(node)
    if (pool === undefined || this.#inFlight.get(vdi)?.size) return
    this.#direct.delete(node!)
    await pool.close()
  }

  /** Resolves once every direct write in flight on the VDI has landed (or failed). */
  async settle(vdi: string): Promise<void> {
    await Promise.all(this.#inFlight.get(vdi)?.values() ?? [])
  }

  /** One whole block written with a handle of the pool; through the page cache if direct I/O refuses it. */
  async #directWrite(
    leaf: DiskNode,
    pool: DirectPool,
    handle: DirectWrites,
    data: Uint8Array,
    offset: number,
  ): Promise<void> {
    const block = offset / BLOCK_SIZE
    let reserved = false
    let refused = false
    try {
      if (!leaf.blocks.has(block)) reserved = this.#reserve(leaf, true)
      if (!(await handle.write(data, offset))) {
        refused = true
        await (await this.#file(leaf.id)).write(data, 0, data.length, offset)
      }
      this.#hold(leaf, block)
    } finally {
      if (reserved) this.#unreserve(leaf)
      pool.release(handle, refused)
    }
  }

  async #write(vdi: string, leaf: DiskNode, offset: number, data: Uint8Array): Promise<void> {
    const fh = await this.#file(leaf.id)
    for (let pos = offset; pos < offset + data.length;) {
      const block = Math.floor(pos / BLOCK_SIZE)
      const end = Math.min(offset + data.length, (block + 1) * BLOCK_SIZE)
      if (!leaf.blocks.has(block)) {
        this.#reserve(leaf)
        // Copy-up, unless the write covers the whole block or no parent holds it (the leaf's file
        // is sparse there: it already reads as the zeros the chain shows).
        const start = block * BLOCK_SIZE
        const len = Math.min(BLOCK_SIZE, leaf.size - start)
        const whole = pos === start && end - start === len
        if (!whole && this.chain(vdi).some((n) => n !== leaf && n.blocks.has(block))) {
          const current = await this.read(vdi, start, len)
          await fh.write(current, 0, len, start)
        }
        this.#hold(leaf, block)
      }
      await fh.write(data, pos - offset, end - pos, pos)
      pos = end
    }
  }

  #poolOf(node: string): DirectPool {
    const pool = this.#direct.get(node) ?? new DirectPool(this.path(node), BLOCK_SIZE)
    this.#direct.set(node, pool)
    return pool
  }

  #flightOf(vdi: string): Map<number, Promise<void>> {
    const flight = this.#inFlight.get(vdi) ?? new Map<number, Promise<void>>()
    this.#inFlight.set(vdi, flight)
    return flight
  }

  /** Freezes the VDI's leaf: the VDI and the copy (snapshot or clone) each get a new leaf over it. */
  async branch(vdi: string, copy: string): Promise<void> {
    await this.settle(vdi) // a write in flight lands in the node it started in
    const frozen = this.#leaf(vdi)
    for (const [target] of [[vdi], [copy]]) {
      const node = this.#node(frozen.id, frozen.size, frozen.group)
      await (await this.#file(node.id)).truncate(frozen.size)
      this.leaves.set(target as string, node.id)
    }
  }

  /** Drops the VDI's data; hidden parents without children go too. */
  async destroy(vdi: string): Promise<void> {
    await this.settle(vdi)
    this.#inFlight.delete(vdi)
    let id: string | undefined = this.leaves.get(vdi)
    this.leaves.delete(vdi)
    while (id !== undefined && !this.#inUse(id)) {
      const node = this.nodes.get(id)
      this.nodes.delete(id)
      if (node?.group !== undefined)
        this.#groupBlocks.set(node.group, (this.#groupBlocks.get(node.group) ?? 0) - node.blocks.size)
      const fh = this.#files.get(id)
      this.#files.delete(id)
      await (await fh)?.close()
      const direct = this.#direct.get(id)
      this.#direct.delete(id)
      await direct?.close()
      await rm(this.path(id), { force: true })
      id = node?.parent
    }
  }

  async resize(vdi: string, size: number): Promise<void> {
    const leaf = this.#leaf(vdi)
    if (size < leaf.size) throw new RangeError('shrinking is not supported')
    leaf.size = size
    await (await this.#file(leaf.id)).truncate(size)
  }

  async close(): Promise<void> {
    const files = [...this.#files.values()]
    const direct = [...this.#direct.values()]
    this.#files.clear()
    this.#direct.clear()
    await Promise.all(files.map(async (f) => (await f).close()))
    await Promise.all(direct.map((d) => d.close()))
  }

  state(): DiskStoreState {
    return {
      nodes: [...this.nodes.values()].map((n) => ({
        id: n.id,
        parent: n.parent,
        size: n.size,
        blocks: [...n.blocks],
        uid: n.uid,
        ...(n.group === undefined ? {} : { group: n.group }),
      })),
      leaves: Object.fromEntries(this.leaves),
    }
  }

  load(state: DiskStoreState): void {
    for (const n of state.nodes) {
      this.nodes.set(n.id, { ...n, parent: n.parent, blocks: new Set(n.blocks) })
      if (n.group !== undefined)
        this.#groupBlocks.set(n.group, (this.#groupBlocks.get(n.group) ?? 0) + n.blocks.length)
    }
    for (const [vdi, node] of Object.entries(state.leaves)) this.leaves.set(vdi, node)
  }

  #inUse(id: string): boolean {
    if ([...this.leaves.values()].includes(id)) return true
    return [...this.nodes.values()].some((n) => n.parent === id)
  }

  #leaf(vdi: string): DiskNode {
    const node = this.nodes.get(this.leaves.get(vdi) ?? '')
    if (node === undefined) throw new Error(`VDI ${vdi} has no data`)
    return node
  }

  /**
   * Refuses a new block in a group at its limit (the write then fails like ENOSPC on a full SR), blocks
   * promised to direct writes in flight counted. `keep`: this block is promised too, until #unreserve;
   * returns whether it was.
   */
  #reserve(node: DiskNode, keep = false): boolean {
    if (node.group === undefined) return false
    const limit = this.limitOf(node.group)
    const promised = this.#groupReserved.get(node.group) ?? 0
    if (limit !== undefined && this.groupBytes(node.group) + (promised + 1) * BLOCK_SIZE > limit)
      throw new DiskFullError(node.group)
    if (keep) this.#groupReserved.set(node.group, promised + 1)
    return keep
  }

  #unreserve(node: DiskNode): void {
    if (node.group === undefined) return
    this.#groupReserved.set(node.group, (this.#groupReserved.get(node.group) ?? 1) - 1)
  }

  #hold(node: DiskNode, block: number): void {
    if (node.blocks.has(block)) return
    node.blocks.add(block)
    if (node.group !== undefined)
      this.#groupBlocks.set(node.group, (this.#groupBlocks.get(node.group) ?? 0) + 1)
  }

  #node(parent: string | undefined, size: number, group?: string): DiskNode {
    const node = { id: randomUUID(), parent, size, blocks: new Set<number>(), uid: randomUUID(), group }
    this.nodes.set(node.id, node)
    return node
  }

  #file(id: string): Promise<FileHandle> {
    let fh = this.#files.get(id)
    if (fh === undefined) {
      fh = open(this.path(id), 'a+').then(async (h) => {
        await h.close()
        return open(this.path(id), 'r+')
      })
      this.#files.set(id, fh)
    }
    return fh
  }
}

function noop(): void {}
