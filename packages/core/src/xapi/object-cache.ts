// The objects of one pool as last seen through event.from, by class and ref. Emptied when the connection
// is lost, so that nothing shows objects that may no longer exist.
import { EventEmitter } from 'node:events'

/** Lowercase class names, as event.from reports them. */
export const CACHED_CLASSES = ['pool', 'host', 'sr', 'network', 'vm', 'vbd', 'vdi', 'task'] as const
export type CachedClass = (typeof CACHED_CLASSES)[number]

export type XapiRecord = Record<string, unknown>

export interface CacheChange {
  operation: 'add' | 'mod' | 'del'
  class: string
  ref: string
  record: XapiRecord | undefined
}

export class ObjectCache extends EventEmitter<{ change: [CacheChange]; clear: [] }> {
  readonly #byClass = new Map<string, Map<string, XapiRecord>>()

  get(cls: string, ref: string): XapiRecord | undefined {
    return this.#byClass.get(cls.toLowerCase())?.get(ref)
  }

  all(cls: string): Map<string, XapiRecord> {
    return new Map(this.#byClass.get(cls.toLowerCase()) ?? [])
  }

  /** Objects of a class whose fields match `where` (e.g. {uuid: '…'}). */
  find(cls: string, where: Record<string, unknown>): [string, XapiRecord][] {
    return [...this.all(cls)].filter(([, r]) => Object.entries(where).every(([k, v]) => r[k] === v))
  }

  get size(): number {
    let n = 0
    for (const m of this.#byClass.values()) n += m.size
    return n
  }

  apply(change: CacheChange): void {
    const cls = change.class.toLowerCase()
    let table = this.#byClass.get(cls)
    if (table === undefined) this.#byClass.set(cls, (table = new Map()))
    if (change.operation === 'del') table.delete(change.ref)
    else if (change.record !== undefined) table.set(change.ref, change.record)
    this.emit('change', { ...change, class: cls })
  }

  clear(): void {
    this.#byClass.clear()
    this.emit('clear')
  }
}
