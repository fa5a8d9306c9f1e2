// event.from and event.inject over the database's generation log: long-poll, coalesced per object,
// tokens "%020d,%020d" (database generation, message generation), valid_ref_counts per lowercase table.
import { setTimeout as delay } from 'node:timers/promises'
import type { Database } from '../db/database.js'
import { XapiFailure } from '../db/failure.js'
import type { Dispatcher } from './dispatcher.js'

const INTERNAL = new Set(['session'])

export function formatToken(gen: number): string {
  return `${String(gen).padStart(20, '0')},${'0'.padStart(20, '0')}`
}

function parseToken(token: string): number {
  if (token === '') return -1
  const m = /^(\d+),(\d+)$/.exec(token) ?? /^(\d+)$/.exec(token)
  if (m === null) throw new XapiFailure('EVENT_FROM_TOKEN_PARSE_FAILURE', [token])
  return Number(m[1])
}

type Subscription = (cls: string, ref: string) => boolean

function parseClasses(db: Database, classes: unknown): Subscription {
  const list = Array.isArray(classes) ? classes.map(String) : [String(classes)]
  const preds = list.map((entry): Subscription => {
    if (entry === '*') return (cls) => !INTERNAL.has(cls)
    const [name = '', ref] = entry.split('/')
    const cls = db.className(name)
    if (cls === undefined) throw new XapiFailure('EVENT_SUBSCRIPTION_PARSE_FAILURE', [entry])
    return (c, r) => c === cls && (ref === undefined || ref === r)
  })
  return (cls, ref) => preds.some((p) => p(cls, ref))
}

export function registerEvents(d: Dispatcher, db: Database): void {
  d.register('event.from', {
    params: 3,
    handler: async (ctx, [classes, token, timeout]) => {
      const wants = parseClasses(db, classes)
      const since = parseToken(String(token))
      const deadline = Date.now() + Math.max(0, Number(timeout)) * 1000
      const taskOnly = JSON.stringify(classes).toLowerCase() === '["task"]'
      for (;;) {
        const batch = since < 0 ? snapshotAll(db, wants) : changes(db, since, wants)
        if (batch.length > 0 || Date.now() >= deadline || since < 0) {
          if (batch.length > 0 && !taskOnly && since >= 0) await delay(50) // xapi batches for 50 ms
          const final = since < 0 ? batch : changes(db, since, wants)
          return { events: final, valid_ref_counts: refCounts(db), token: formatToken(db.generation) }
        }
        const wait = AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(1, deadline - Date.now()))])
        await db.nextChange(wait)
        if (ctx.signal.aborted) throw new XapiFailure('INTERNAL_ERROR', ['connection closed'])
      }
    },
  })
  d.register('event.inject', {
    params: 2,
    handler: (_ctx, [cls, ref]) => {
      const name = db.className(String(cls))
      if (name === undefined) throw new XapiFailure('EVENT_SUBSCRIPTION_PARSE_FAILURE', [String(cls)])
      const before = formatToken(db.generation)
      db.touch(name, String(ref))
      return before
    },
  })
}

function changes(db: Database, since: number, wants: Subscription) {
  return db
    .changesSince(since)
    .filter((c) => wants(c.cls, c.ref))
    .map((c) => ({
      id: String(c.gen),
      timestamp: '0.0',
      class: c.cls.toLowerCase(),
      operation: c.op,
      ref: c.ref,
      ...(c.op === 'del' || !db.has(c.cls, c.ref) ? {} : { snapshot: db.get(c.cls, c.ref) }),
    }))
}

/** An empty token: every existing object of the subscribed classes, as `add`. */
function snapshotAll(db: Database, wants: Subscription) {
  const out = []
  for (const [cls, table] of db.tables) {
    for (const [ref, row] of table) {
      if (wants(cls, ref)) {
        out.push({
          id: String(db.generation),
          timestamp: '0.0',
          class: cls.toLowerCase(),
          operation: 'add',
          ref,
          snapshot: row,
        })
      }
    }
  }
  return out
}

function refCounts(db: Database): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [cls, table] of db.tables) if (!INTERNAL.has(cls)) out[cls.toLowerCase()] = table.size
  return out
}
