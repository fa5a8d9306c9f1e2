// The methods xapi generates for every class: get_all, get_all_records, get_record, get_by_uuid,
// get_by_name_label, get_<field>, set_<field>, add_to_/remove_from_<map>, add_/remove_<set> (tags),
// get_all_records_where with the `field "x"="y"` and/or/not grammar.
import type { Database, Row } from '../db/database.js'
import { XapiFailure } from '../db/failure.js'
import { WRITABLE } from '../db/schema.js'
import type { MethodSpec } from './dispatcher.js'

/** Hidden from get_all_records: xapi never lists sessions to clients. */
const INTERNAL = new Set(['session'])

export function genericMethod(db: Database, name: string): MethodSpec | undefined {
  const dot = name.indexOf('.')
  const cls = db.className(name.slice(0, dot))
  const method = name.slice(dot + 1)
  if (cls === undefined || INTERNAL.has(cls) || cls !== name.slice(0, dot)) return undefined
  const str = (v: unknown): string => String(v)
  const writable = WRITABLE[cls] ?? []
  switch (method) {
    case 'get_all':
      return { params: 0, handler: () => [...db.table(cls).keys()] }
    case 'get_all_records':
      return { params: 0, handler: () => Object.fromEntries(db.table(cls)) }
    case 'get_record':
      return { params: 1, handler: (_c, [ref]) => db.get(cls, str(ref)) }
    case 'get_by_uuid':
      return { params: 1, handler: (_c, [uuid]) => db.byUuid(cls, str(uuid)) }
    case 'get_by_name_label':
      return {
        params: 1,
        handler: (_c, [label]) => db.find(cls, (r) => r.name_label === label).map(([ref]) => ref),
      }
    case 'get_all_records_where':
      return { params: 1, handler: (_c, [expr]) => Object.fromEntries(db.find(cls, matcher(str(expr)))) }
    case 'get_all_where':
      return { params: 1, handler: (_c, [expr]) => db.find(cls, matcher(str(expr))).map(([ref]) => ref) }
  }
  const field = /^(get|set|add_to|remove_from|add|remove)_(.+)$/.exec(method)
  if (field === null) return undefined
  const [, verb, key = ''] = field
  if (verb === 'get') return { params: 1, handler: (_c, [ref]) => fieldOf(db.get(cls, str(ref)), cls, key) }
  if (!writable.includes(key)) return undefined
  switch (verb) {
    case 'set':
      return { params: 2, handler: (_c, [ref, v]) => (db.update(cls, str(ref), { [key]: v }), '') }
    case 'add_to':
      return {
        params: 2 + 1,
        handler: (_c, [ref, k, v]) => {
          const map = { ...(fieldOf(db.get(cls, str(ref)), cls, key) as Record<string, unknown>) }
          if (str(k) in map) throw new XapiFailure('MAP_DUPLICATE_KEY', [cls, key, str(ref), str(k)])
          db.update(cls, str(ref), { [key]: { ...map, [str(k)]: v } })
          return ''
        },
      }
    case 'remove_from':
      return {
        params: 2,
        handler: (_c, [ref, k]) => {
          const map = { ...(fieldOf(db.get(cls, str(ref)), cls, key) as Record<string, unknown>) }
          delete map[str(k)]
          db.update(cls, str(ref), { [key]: map })
          return ''
        },
      }
    case 'add':
    case 'remove':
      return {
        params: 2,
        handler: (_c, [ref, v]) => {
          const set = (fieldOf(db.get(cls, str(ref)), cls, key) as unknown[]).filter((x) => x !== v)
          db.update(cls, str(ref), { [key]: verb === 'add' ? [...set, v] : set })
          return ''
        },
      }
  }
  return undefined
}

function fieldOf(row: Row, cls: string, key: string): unknown {
  if (!(key in row)) throw new XapiFailure('MESSAGE_METHOD_UNKNOWN', [`${cls}.get_${key}`])
  return row[key]
}

/** Parses `field "a"="b" and (not field "c"="d" or …)`; comparisons on string forms. */
export function matcher(expr: string): (row: Row, ref: string) => boolean {
  const tokens = expr.match(/"(?:[^"\\]|\\.)*"|\(|\)|=|[A-Za-z_]+/g) ?? []
  let i = 0
  const peek = (): string | undefined => tokens[i]
  const next = (): string => {
    const t = tokens[i++]
    if (t === undefined) throw new XapiFailure('INVALID_VALUE', ['expression', expr])
    return t
  }
  type Pred = (row: Row) => boolean
  const unquote = (t: string): string => t.slice(1, -1)
  const atom = (): Pred => {
    const t = next()
    if (t === 'not') {
      const p = atom()
      return (r) => !p(r)
    }
    if (t === '(') {
      const p = or()
      next()
      return p
    }
    if (t === 'true') return () => true
    if (t === 'false') return () => false
    if (t !== 'field') throw new XapiFailure('INVALID_VALUE', ['expression', expr])
    const column = unquote(next()).replace(/__/g, '_')
    next() // '='
    const value = unquote(next())
    return (r) => {
      const v = r[column] ?? r[column.replace(/_/g, '__')]
      return (typeof v === 'object' ? JSON.stringify(v) : String(v)) === value
    }
  }
  const and = (): Pred => {
    let p = atom()
    while (peek() === 'and') {
      next()
      const [a, b] = [p, atom()]
      p = (r) => a(r) && b(r)
    }
    return p
  }
  const or = (): Pred => {
    let p = and()
    while (peek() === 'or') {
      next()
      const [a, b] = [p, and()]
      p = (r) => a(r) || b(r)
    }
    return p
  }
  const pred = tokens.length === 0 ? () => true : or()
  return (row) => pred(row)
}
