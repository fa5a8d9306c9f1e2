import { describe, expect, it } from 'vitest'
import { decodeXmlRpcValue, encodeXmlRpcValue, XmlRpcParseError } from './xmlrpc-value.js'

describe('XML-RPC values (task results)', () => {
  it('decodes the untyped strings xapi writes for refs', () => {
    expect(decodeXmlRpcValue('<value>OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13</value>')).toBe(
      'OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13',
    )
  })

  it('decodes a ref set (the result of /import) and a void result', () => {
    expect(
      decodeXmlRpcValue(
        '<value><array><data><value>OpaqueRef:a</value><value>OpaqueRef:b</value></data></array></value>',
      ),
    ).toEqual(['OpaqueRef:a', 'OpaqueRef:b'])
    expect(decodeXmlRpcValue('')).toBe('')
  })

  it('decodes typed values, structs and entities', () => {
    const xml =
      '<value><struct><member><name>n</name><value><i4>42</i4></value></member>' +
      '<member><name>ok</name><value><boolean>1</boolean></value></member>' +
      '<member><name>x</name><value><double>0.5</double></value></member>' +
      '<member><name>s</name><value><string>a &lt;b&gt; &amp; c</string></value></member>' +
      '<member><name>e</name><value/></member></struct></value>'
    expect(decodeXmlRpcValue(xml)).toEqual({ n: 42, ok: true, x: 0.5, s: 'a <b> & c', e: '' })
  })

  it('round-trips what the lab encodes; ints travel as untyped strings, as xapi writes them', () => {
    const value = { refs: ['OpaqueRef:1', 'x<y'], n: 7, f: 1.5, b: false, m: { k: 'v' } }
    expect(decodeXmlRpcValue(encodeXmlRpcValue(value))).toEqual({ ...value, n: '7' })
  })

  it('rejects malformed text', () => {
    expect(() => decodeXmlRpcValue('<value><array><data></array></value>')).toThrow(XmlRpcParseError)
    expect(() => decodeXmlRpcValue('<value>x</value>junk')).toThrow(XmlRpcParseError)
  })
})
