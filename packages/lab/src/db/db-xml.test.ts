import { describe, expect, it } from 'vitest'
import {
  columnOf,
  decodeDump,
  encodeDump,
  fieldOf,
  marshal,
  parseSexp,
  protect,
  unmarshal,
  unprotect,
} from './db-xml.js'

describe('the database XML of /pool/xmldbdump', () => {
  it('names namespaced fields with __ per class, and back', () => {
    expect(columnOf('VM', 'name_label')).toBe('name__label')
    expect(columnOf('VM', 'memory_static_max')).toBe('memory__static_max')
    expect(columnOf('VM', 'VCPUs_at_startup')).toBe('VCPUs__at_startup')
    expect(columnOf('VM', 'HVM_boot_params')).toBe('HVM__boot_params')
    expect(columnOf('host', 'API_version_major')).toBe('API_version__major')
    expect(columnOf('VBD', 'qos_algorithm_type')).toBe('qos__algorithm_type')
    // Not namespaces: plain fields that happen to share a prefix.
    expect(columnOf('VM_guest_metrics', 'PV_drivers_version')).toBe('PV_drivers_version')
    expect(columnOf('host', 'memory_overhead')).toBe('memory_overhead')
    expect(columnOf('message', 'name')).toBe('name')
    expect(fieldOf('memory__static_max')).toBe('memory_static_max')
  })

  it('stores sets and maps as S-expressions of quoted strings, escaping quotes and backslashes', () => {
    expect(marshal(['OpaqueRef:a', "it's"])).toBe("('OpaqueRef:a' 'it\\'s')")
    expect(marshal({ k: 'v', 'a\\b': '"q"' })).toBe("(('k' 'v') ('a\\\\b' '\\\"q\\\"'))")
    expect(marshal([])).toBe('()')
    expect(marshal(1.5)).toBe('1.5')
    expect(marshal(true)).toBe('true')
    expect(unmarshal("('x y' 'it\\'s')", [''])).toEqual(['x y', "it's"])
    expect(unmarshal("('0' '2')", [0])).toEqual([0, 2])
    expect(unmarshal("(('k' 'v') ('a\\\\b' '\\\"q\\\"'))", {})).toEqual({ k: 'v', 'a\\b': '"q"' })
    expect(unmarshal('42', 0)).toBe(42)
    expect(unmarshal('false', true)).toBe(false)
    expect(() => parseSexp("('unterminated")).toThrow(/S-expression/)
    expect(() => parseSexp("('a') trailing")).toThrow(/S-expression/)
  })

  it('protects whitespace and % like xapi (old %_ spaces still read)', () => {
    expect(protect('Local storage\t50%\n')).toBe('Local%.storage%t50%%%n')
    expect(unprotect('Local%.storage%t50%%%n')).toBe('Local storage\t50%\n')
    expect(unprotect('Local%_storage')).toBe('Local storage')
  })

  it('round-trips a dump through its XML, escaping markup in values', () => {
    const tables = new Map([
      ['VM', new Map([['OpaqueRef:1', { uuid: 'u1', name__label: 'a <b> & "c" d', tags: "('x')" }]])],
      ['task', new Map()],
    ])
    const xml = [...encodeDump({ major: 5, minor: 786, generation: 42, tables })].join('')
    expect(xml).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<database><manifest><pair key="schema_major_vsn" value="5"\/>/,
    )
    expect(xml).toContain('<table name="task"/>')
    expect(xml).toContain('name__label="a%.&lt;b&gt;%.&amp;%.&quot;c&quot;%.d"')
    const back = decodeDump(xml)
    expect([back.major, back.minor, back.generation]).toEqual([5, 786, 42])
    expect(back.tables.get('VM')?.get('OpaqueRef:1')).toEqual(tables.get('VM')!.get('OpaqueRef:1'))
    expect(back.tables.get('task')?.size).toBe(0)
  })

  it('refuses what is not a database dump', () => {
    expect(() => decodeDump('<database><manifest>')).toThrow(/Unmarshall_error/)
    expect(() => decodeDump('<html><body>no</body></html>')).toThrow(/Unexpected tag: html/)
    expect(() => decodeDump('<database><manifest></manifest></database>')).toThrow(/schema_major_vsn/)
    expect(() => decodeDump('<database>text</database>')).toThrow(/Unexpected text/)
  })
})
