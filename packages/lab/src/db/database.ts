// The lab's object store: tables of records keyed by OpaqueRef, one global generation counter bumped by
// every change (the event log event.from reads), and waiters woken on change. Records are plain
// JSON-able objects exactly as the wire shows them; lab-internal state lives elsewhere.
import { randomUUID } from 'node:crypto'
import { XapiFailure } from './failure.js'

export type Row = Record<string, unknown> & { uuid: string }

export interface Change {
  gen: number
  cls: string
  ref: string
  op: 'add' | 'mod' | 'del'
}

export class Database {
  readonly tables = new Map<string, Map<string, Row>>()
  /** Latest change per object (coalesced): what event.from reports. Deleted objects stay as `del`. */
  readonly #changes = new Map<string, Change>()
  #gen = 0
  #waiters = new Set<() => void>()

  constructor(readonly classes: readonly string[]) {
    for (const c of classes) this.tables.set(c, new Map())
  }

  get generation(): number {
    return this.#gen
  }

  /** Restores the counter after a reload so that tokens keep increasing across restarts. */
  set generation(value: number) {
    this.#gen = Math.max(this.#gen, value)
  }

  table(cls: string): Map<string, Row> {
    const t = this.tables.get(cls)
    if (t === undefined) throw new XapiFailure('MESSAGE_METHOD_UNKNOWN', [cls])
    return t
  }

  /** The class name as the datamodel spells it, from any case ('vm' → 'VM'). */
  className(name: string): string | undefined {
    const lower = name.toLowerCase()
    return this.classes.find((c) => c.toLowerCase() === lower)
  }

  create(cls: string, record: Omit<Row, 'uuid'> & { uuid?: string }, ref = newRef()): string {
    const row = { ...record, uuid: record.uuid ?? randomUUID() } as Row
    this.table(cls).set(ref, row)
    this.#touch(cls, ref, 'add')
    return ref
  }

  get(cls: string, ref: string): Row {
    const row = this.tables.get(cls)?.get(ref)
    if (row === undefined) throw new XapiFailure('HANDLE_INVALID', [cls, ref])
    return row
  }

  has(cls: string, ref: string): boolean {
    return this.tables.get(cls)?.has(ref) ?? false
  }

  find(cls: string, where: (row: Row, ref: string) => boolean): [string, Row][] {
    return [...this.table(cls)].filter(([ref, row]) => where(row, ref))
  }

  byUuid(cls: string, uuid: string): string {
    for (const [ref, row] of this.table(cls)) if (row.uuid === uuid) return ref
    throw new XapiFailure('UUID_INVALID', [cls, uuid])
  }

  update(cls: string, ref: string, patch: Record<string, unknown>): Row {
    const row = this.get(cls, ref)
    Object.assign(row, patch)
    this.#touch(cls, ref, 'mod')
    return row
  }

  /** Marks an object modified without changing it (event.inject, side effects on back-references). */
  touch(cls: string, ref: string): void {
    this.get(cls, ref)
    this.#touch(cls, ref, 'mod')
  }

  delete(cls: string, ref: string): void {
    if (this.table(cls).delete(ref)) this.#touch(cls, ref, 'del')
  }

  /**
   * Replaces every row of the given classes (a restored database): rows that go, come or change are
   * events like any other; the generation keeps increasing past both counters.
   */
  replace(tables: Map<string, Map<string, Row>>, generation: number): void {
    this.generation = generation
    for (const [cls, rows] of tables) {
      const table = this.table(cls)
      for (const ref of [...table.keys()]) if (!rows.has(ref)) this.delete(cls, ref)
      for (const [ref, row] of rows) {
        const op = table.has(ref) ? 'mod' : 'add'
        table.set(ref, row)
        this.#touch(cls, ref, op)
      }
    }
  }

  /** The generation of an object's last change (0 when unknown): xapi's __mtime. */
  lastChange(cls: string, ref: string): number {
    return this.#changes.get(`${cls}/${ref}`)?.gen ?? 0
  }

  /** Changes after generation `since`, coalesced per object, in generation order. */
  changesSince(since: number): Change[] {
    return [...this.#changes.values()].filter((c) => c.gen > since).sort((a, b) => a.gen - b.gen)
  }

  /** Resolves on the next change (or when the signal fires). */
  nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#waiters.delete(done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.#waiters.add(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  #touch(cls: string, ref: string, op: Change['op']): void {
    // Coalesced like xapi: one entry per object with its latest operation (clients upsert on add/mod).
    this.#changes.set(`${cls}/${ref}`, { gen: ++this.#gen, cls, ref, op })
    for (const w of [...this.#waiters]) w()
  }
}

export function newRef(): string {
  return `OpaqueRef:${randomUUID()}`
}
