// xapi's database as XML (Db_xml, what GET /pool/xmldbdump streams): `<database>`, a `<manifest>` of
// `<pair key value/>` (schema_major_vsn, schema_minor_vsn, generation_count), then one `<table name>`
// per class with one `<row ref __mtime __ctime column="value" …/>` per object. Column names spell
// namespaced fields with `__` (name__label, memory__static_max, VCPUs__max, API_version__major,
// qos__algorithm_type); every value is a string: sets and maps are S-expressions of quoted strings
// (`('a' 'b')`, `(('k' 'v'))`, quotes and backslashes escaped with a backslash), and whitespace and `%`
// are protected (space %. tab %t newline %n return %r percent %%) so that they survive attribute
// normalisation. Bytes in, values out: no I/O here.
import { XapiFailure } from './failure.js'

export interface DbDump {
  major: number
  minor: number
  generation: number
  /** Class → ref → column → string value (as in the XML). */
  tables: Map<string, Map<string, Record<string, string>>>
}

/** Field-name prefixes that are datamodel namespaces, per class ('*': every class). */
const NAMESPACES: Record<string, readonly string[]> = {
  '*': ['name'],
  VM: ['memory', 'VCPUs', 'actions', 'PV', 'HVM'],
  VM_metrics: ['memory', 'VCPUs'],
  host: ['API_version'],
  VBD: ['qos'],
  VIF: ['qos'],
}

export function columnOf(cls: string, field: string): string {
  for (const ns of [...(NAMESPACES['*'] ?? []), ...(NAMESPACES[cls] ?? [])])
    if (field.startsWith(`${ns}_`) && field.length > ns.length + 1)
      return `${ns}__${field.slice(ns.length + 1)}`
  return field
}

export function fieldOf(column: string): string {
  return column.replace('__', '_')
}

// --- values ---------------------------------------------------------------------------------------

const quote = (s: string): string => `'${s.replace(/[\\'"]/g, (c) => `\\${c}`)}'`

/** A record value as the database stores it. */
export function marshal(value: unknown): string {
  if (Array.isArray(value)) return `(${value.map((v) => quote(String(v))).join(' ')})`
  if (typeof value === 'object' && value !== null)
    return `(${Object.entries(value)
      .map(([k, v]) => `(${quote(k)} ${quote(String(v))})`)
      .join(' ')})`
  if (value === undefined || value === null) return ''
  return String(value)
}

type Sexp = string | Sexp[]

/** Parses `('a' ('b' 'c'))`; throws on anything else. */
export function parseSexp(text: string): Sexp {
  let i = 0
  const fail = (): never => {
    throw new XapiFailure('INTERNAL_ERROR', [
      `Db_xml.Unmarshall_error("bad S-expression: ${text.slice(0, 80)}")`,
    ])
  }
  const skip = (): void => {
    while (text[i] === ' ' || text[i] === '\n' || text[i] === '\t') i++
  }
  const node = (): Sexp => {
    skip()
    if (text[i] === '(') {
      i++
      const items: Sexp[] = []
      for (skip(); text[i] !== ')'; skip()) {
        if (i >= text.length) fail()
        items.push(node())
      }
      i++
      return items
    }
    if (text[i] !== "'" && text[i] !== '"') fail()
    const close = text[i++]
    let out = ''
    for (; i < text.length && text[i] !== close; i++) out += text[i] === '\\' ? (text[++i] ?? '') : text[i]
    if (text[i++] !== close) fail()
    return out
  }
  const result = node()
  skip()
  if (i !== text.length) fail()
  return result
}

/** A stored string back into the type `template` has (string, number, boolean, array or map). */
export function unmarshal(text: string, template: unknown): unknown {
  if (typeof template === 'number') return Number(text)
  if (typeof template === 'boolean') return text === 'true'
  if (Array.isArray(template)) {
    const items = parseSexp(text)
    if (!Array.isArray(items)) return []
    const asNumber = typeof template[0] === 'number'
    return items.map((v) => (asNumber ? Number(v) : typeof v === 'string' ? v : ''))
  }
  if (typeof template === 'object' && template !== null) {
    const pairs = parseSexp(text)
    const out: Record<string, string> = {}
    if (Array.isArray(pairs))
      for (const p of pairs) if (Array.isArray(p) && typeof p[0] === 'string') out[p[0]] = String(p[1] ?? '')
    return out
  }
  return text
}

// --- whitespace protection and XML ----------------------------------------------------------------

const PROTECT: Record<string, string> = { ' ': '%.', '\t': '%t', '\n': '%n', '\r': '%r', '%': '%%' }
const UNPROTECT: Record<string, string> = { '.': ' ', _: ' ', t: '\t', n: '\n', r: '\r', '%': '%' }

export const protect = (s: string): string => s.replace(/[ \t\n\r%]/g, (c) => PROTECT[c]!)
export const unprotect = (s: string): string => s.replace(/%([._tnr%])/g, (_, c: string) => UNPROTECT[c]!)

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }
const escapeXml = (s: string): string => s.replace(/[&<>"]/g, (c) => ESCAPES[c]!)

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
    if (e[0] !== '#') return named[e.toLowerCase()]!
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
  })
}

const element = (name: string, attrs: [string, string][]): string =>
  `<${name}${attrs.map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join('')}/>`

/** The XML of a dump: tables and rows sorted by name, as xapi's maps iterate. */
export function* encodeDump(dump: DbDump): Generator<string> {
  yield '<?xml version="1.0" encoding="UTF-8"?>\n<database><manifest>'
  for (const [k, v] of [
    ['schema_major_vsn', dump.major],
    ['schema_minor_vsn', dump.minor],
    ['generation_count', dump.generation],
  ] as const)
    yield element('pair', [
      ['key', k],
      ['value', String(v)],
    ])
  yield '</manifest>'
  for (const name of [...dump.tables.keys()].sort()) {
    const rows = dump.tables.get(name)!
    if (rows.size === 0) {
      yield `<table name="${escapeXml(name)}"/>`
      continue
    }
    yield `<table name="${escapeXml(name)}">`
    for (const ref of [...rows.keys()].sort()) {
      const attrs = Object.entries(rows.get(ref)!).map(([k, v]): [string, string] => [k, protect(v)])
      yield element('row', [['ref', ref], ...attrs])
    }
    yield '</table>'
  }
  yield '</database>'
}

const TAG =
  /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*"[^"]*")*)\s*(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->|\s+/y
const ATTR = /([A-Za-z_][\w.:-]*)\s*=\s*"([^"]*)"/g

function unmarshallError(what: string): XapiFailure {
  return new XapiFailure('INTERNAL_ERROR', [`Db_xml.Unmarshall_error("${what}")`])
}

/** Parses a dump; tables are kept by name whatever they are (the caller decides what it knows). */
export function decodeDump(xml: string): DbDump {
  const tables = new Map<string, Map<string, Record<string, string>>>()
  const manifest = new Map<string, string>()
  const stack: string[] = []
  let table: Map<string, Record<string, string>> | undefined
  for (TAG.lastIndex = 0; TAG.lastIndex < xml.length;) {
    const at = TAG.lastIndex
    const m = TAG.exec(xml)
    if (m === null) throw unmarshallError(`Unexpected text at ${at}`)
    const [, close, name, rawAttrs, selfClose] = m
    if (name === undefined) continue
    if (close === '/') {
      if (stack.pop() !== name) throw unmarshallError(`Unexpected tag: ${name}`)
      continue
    }
    const attrs = new Map([...(rawAttrs ?? '').matchAll(ATTR)].map((a) => [a[1]!, unescapeXml(a[2]!)]))
    const parent = stack.at(-1)
    if (name === 'database' && parent === undefined) {
      // the root
    } else if (name === 'manifest' && parent === 'database') {
      // pairs follow
    } else if (name === 'pair' && parent === 'manifest')
      manifest.set(attrs.get('key') ?? '', attrs.get('value') ?? '')
    else if (name === 'table' && parent === 'database') {
      table = new Map()
      tables.set(attrs.get('name') ?? '', table)
    } else if (name === 'row' && parent === 'table' && table !== undefined && attrs.has('ref')) {
      const row: Record<string, string> = {}
      for (const [k, v] of attrs) if (k !== 'ref' && k !== '__mtime' && k !== '__ctime') row[k] = unprotect(v)
      table.set(attrs.get('ref')!, row)
    } else throw unmarshallError(`Unexpected tag: ${name}`)
    if (selfClose !== '/') stack.push(name)
  }
  if (stack.length > 0) throw unmarshallError('Unexpected end of file')
  const int = (k: string): number => {
    const v = Number(manifest.get(k))
    if (!Number.isSafeInteger(v)) throw unmarshallError(`missing ${k} in the manifest`)
    return v
  }
  return {
    major: int('schema_major_vsn'),
    minor: int('schema_minor_vsn'),
    generation: int('generation_count'),
    tables,
  }
}
