// XML-RPC values as XAPI writes them: task results are XML-RPC strings even over JSON-RPC
// (`<value>OpaqueRef:…</value>`, `<value><array><data>…</data></array></value>`), and xapi emits untyped
// strings and ints as plain text. Pure: a string in, a JS value out (and back, for the lab).

export type XmlRpcValue = string | number | boolean | null | XmlRpcValue[] | { [key: string]: XmlRpcValue }

export class XmlRpcParseError extends Error {
  constructor(message: string) {
    super(`XML-RPC value: ${message}`)
    this.name = 'XmlRpcParseError'
  }
}

/** Decodes one `<value>…</value>` element. An empty string (a void result) decodes to ''. */
export function decodeXmlRpcValue(text: string): XmlRpcValue {
  const trimmed = text.trim()
  if (trimmed === '') return ''
  const parser = new Parser(trimmed)
  const value = parser.value()
  parser.skipSpace()
  if (!parser.done()) throw new XmlRpcParseError(`trailing text at ${parser.pos}`)
  return value
}

export function encodeXmlRpcValue(value: XmlRpcValue): string {
  if (value === null) return '<value><nil/></value>'
  if (typeof value === 'string') return `<value>${escapeXml(value)}</value>`
  if (typeof value === 'boolean') return `<value><boolean>${value ? 1 : 0}</boolean></value>`
  if (typeof value === 'number') {
    return Number.isInteger(value) ? `<value>${value}</value>` : `<value><double>${value}</double></value>`
  }
  if (Array.isArray(value))
    return `<value><array><data>${value.map(encodeXmlRpcValue).join('')}</data></array></value>`
  const members = Object.entries(value).map(
    ([k, v]) => `<member><name>${escapeXml(k)}</name>${encodeXmlRpcValue(v)}</member>`,
  )
  return `<value><struct>${members.join('')}</struct></value>`
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c)
}

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16))
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10))
    return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[e] ?? ''
  })
}

class Parser {
  pos = 0
  constructor(private readonly s: string) {}

  done(): boolean {
    return this.pos >= this.s.length
  }

  skipSpace(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos] ?? '')) this.pos++
  }

  /** Reads `<name>` or `<name/>`; returns true when self-closing. */
  open(name: string): boolean {
    this.skipSpace()
    const tag = this.tag()
    if (tag.name !== name || tag.closing) throw new XmlRpcParseError(`expected <${name}> at ${this.pos}`)
    return tag.selfClosing
  }

  close(name: string): void {
    this.skipSpace()
    const tag = this.tag()
    if (tag.name !== name || !tag.closing) throw new XmlRpcParseError(`expected </${name}> at ${this.pos}`)
  }

  tag(): { name: string; closing: boolean; selfClosing: boolean } {
    if (this.s[this.pos] !== '<') throw new XmlRpcParseError(`expected a tag at ${this.pos}`)
    const end = this.s.indexOf('>', this.pos)
    if (end === -1) throw new XmlRpcParseError('unterminated tag')
    const body = this.s.slice(this.pos + 1, end)
    this.pos = end + 1
    const closing = body.startsWith('/')
    const selfClosing = body.endsWith('/')
    const name = body.replace(/^\//, '').replace(/\/$/, '').trim().split(/\s/)[0] ?? ''
    return { name, closing, selfClosing }
  }

  peekTag(): string | undefined {
    this.skipSpace()
    if (this.s[this.pos] !== '<') return undefined
    const m = /^<\/?([^\s/>]+)/.exec(this.s.slice(this.pos))
    return m === null ? undefined : (this.s[this.pos + 1] === '/' ? '/' : '') + m[1]
  }

  text(): string {
    const end = this.s.indexOf('<', this.pos)
    if (end === -1) throw new XmlRpcParseError('unterminated text')
    const raw = this.s.slice(this.pos, end)
    this.pos = end
    return unescapeXml(raw)
  }

  value(): XmlRpcValue {
    if (this.open('value')) return ''
    const start = this.pos
    const next = this.peekTag()
    if (next === '/value' || next === undefined) {
      this.pos = start
      const text = this.text()
      this.close('value')
      return text
    }
    const result = this.typed(next)
    this.close('value')
    return result
  }

  typed(type: string): XmlRpcValue {
    if (type === 'array') return this.array()
    if (type === 'struct') return this.struct()
    if (this.open(type)) return type === 'nil' ? null : ''
    const text = this.text()
    this.close(type)
    switch (type) {
      case 'string':
      case 'dateTime.iso8601':
      case 'base64':
        return text
      case 'int':
      case 'i4':
      case 'i8':
        return parseInt(text, 10)
      case 'double':
        return parseFloat(text)
      case 'boolean':
        return text.trim() === '1'
      default:
        throw new XmlRpcParseError(`unknown type <${type}>`)
    }
  }

  array(): XmlRpcValue[] {
    if (this.open('array')) return []
    const out: XmlRpcValue[] = []
    if (!this.open('data')) {
      while (this.peekTag() === 'value') out.push(this.value())
      this.close('data')
    }
    this.close('array')
    return out
  }

  struct(): { [key: string]: XmlRpcValue } {
    const out: { [key: string]: XmlRpcValue } = {}
    if (this.open('struct')) return out
    while (this.peekTag() === 'member') {
      this.open('member')
      this.open('name')
      const name = this.text()
      this.close('name')
      out[name] = this.value()
      this.close('member')
    }
    this.close('struct')
    return out
  }
}
