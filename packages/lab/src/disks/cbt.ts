// Changed block tracking like SM's cbtlog files: per CBT-enabled VDI a bitmap of 64 KiB granules written
// since enable or the last snapshot. A snapshot hands the VDI's log to the snapshot and starts a fresh
// one linked to it; list_changed_blocks ORs the logs after `from` up to `to` (xapi.md §7).
import { randomUUID } from 'node:crypto'
import { CBT_BLOCK_SIZE, encodeCbtBitmap } from '@strata/core/xapi'
import { XapiFailure } from '../db/failure.js'

interface Log {
  bits: Uint8Array
  prev: string | undefined
}

export interface CbtState {
  logs: Record<string, { bits: string; prev?: string }>
  owners: Record<string, string>
}

export class CbtLogs {
  readonly #logs = new Map<string, Log>()
  /** VDI ref → its current log. */
  readonly #owner = new Map<string, string>()

  enabled(vdi: string): boolean {
    return this.#owner.has(vdi)
  }

  enable(vdi: string, size: number): void {
    if (this.#owner.has(vdi)) return
    this.#owner.set(vdi, this.#newLog(size, undefined))
  }

  disable(vdi: string): void {
    this.#owner.delete(vdi)
  }

  /** Records a guest write of `length` bytes at `offset`. */
  mark(vdi: string, offset: number, length: number): void {
    const log = this.#logs.get(this.#owner.get(vdi) ?? '')
    if (log === undefined || length <= 0) return
    for (
      let k = Math.floor(offset / CBT_BLOCK_SIZE);
      k <= Math.floor((offset + length - 1) / CBT_BLOCK_SIZE);
      k++
    ) {
      const i = k >> 3
      if (i < log.bits.length) log.bits[i] = (log.bits[i] ?? 0) | (0x80 >> (k & 7))
    }
  }

  /** The snapshot takes the VDI's log; the VDI starts a new one after it. */
  snapshot(vdi: string, snap: string, size: number): void {
    const current = this.#owner.get(vdi)
    if (current === undefined) return
    this.#owner.set(snap, current)
    this.#owner.set(vdi, this.#newLog(size, current))
  }

  /** Forgets the VDI (its log stays linked for the chain until nothing refers to it). */
  drop(vdi: string): void {
    this.#owner.delete(vdi)
  }

  changed(from: string, to: string, size: number): string {
    const fromLog = this.#owner.get(from)
    const failure = new XapiFailure('SR_BACKEND_FAILURE_460', [
      '',
      'Failed to calculate changed blocks for given VDIs. [opterr=Source and target VDI are unrelated]',
      '',
    ])
    if (fromLog === undefined || from === to) throw failure
    const out = new Uint8Array(Math.ceil(Math.ceil(size / CBT_BLOCK_SIZE) / 8))
    let id = this.#owner.get(to)
    while (id !== fromLog) {
      const log = id === undefined ? undefined : this.#logs.get(id)
      if (log === undefined) throw failure
      for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) | (log.bits[i] ?? 0)
      id = log.prev
    }
    return encodeCbtBitmap(out)
  }

  state(): CbtState {
    const logs: CbtState['logs'] = {}
    for (const [id, l] of this.#logs)
      logs[id] = { bits: Buffer.from(l.bits).toString('base64'), prev: l.prev }
    return { logs, owners: Object.fromEntries(this.#owner) }
  }

  load(state: CbtState): void {
    for (const [id, l] of Object.entries(state.logs)) {
      this.#logs.set(id, { bits: new Uint8Array(Buffer.from(l.bits, 'base64')), prev: l.prev })
    }
    for (const [vdi, id] of Object.entries(state.owners)) this.#owner.set(vdi, id)
  }

  #newLog(size: number, prev: string | undefined): string {
    const id = randomUUID()
    this.#logs.set(id, { bits: new Uint8Array(Math.ceil(Math.ceil(size / CBT_BLOCK_SIZE) / 8)), prev })
    return id
  }
}
