import { createServer, type AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { SyslogSink, formatSyslog, parseSyslogUrl } from './syslog.js'

describe('syslog', () => {
  it('formats RFC 5424 lines with local0 priorities', () => {
    const line = formatSyslog(
      'error',
      'run failed\nbadly',
      'strata-run',
      new Date('2026-01-02T03:04:05.678Z'),
    )
    expect(line).toMatch(/^<131>1 2026-01-02T03:04:05\.678Z \S+ strata-run \d+ - - run failed badly$/)
    expect(formatSyslog('info', 'x', 'strata')).toMatch(/^<134>1 /)
  })

  it('parses udp:// and tcp:// URLs and refuses the rest', () => {
    expect(parseSyslogUrl('tcp://logs.example.com:6514')).toEqual({
      protocol: 'tcp',
      host: 'logs.example.com',
      port: 6514,
    })
    expect(parseSyslogUrl('udp://[::1]')).toEqual({ protocol: 'udp', host: '::1', port: 514 })
    expect(() => parseSyslogUrl('http://h:1')).toThrow(/udp:\/\/host:port/)
    expect(() => parseSyslogUrl('tcp://h:1/path')).toThrow(/udp:\/\/host:port/)
  })

  it('sends octet-counted frames over TCP and reconnects after the server drops it', async () => {
    const received: string[] = []
    const server = createServer((socket) => {
      socket.on('data', (d) => received.push(d.toString()))
      if (received.length === 0) setTimeout(() => socket.destroy(), 50)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const sink = new SyslogSink({
      protocol: 'tcp',
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
    })
    sink.write('info', 'first')
    for (let i = 0; i < 50 && received.length === 0; i++) await sleep(20)
    await sleep(150) // the server has dropped the connection
    sink.write('info', 'dropped maybe') // may be lost: the sink learns of the drop here
    await sleep(50)
    sink.write('warning', 'second')
    for (let i = 0; i < 50 && !received.join('').includes('second'); i++) await sleep(20)
    const text = received.join('')
    const first = text.match(/^(\d+) (<134>1 .* first)/)
    expect(first).not.toBeNull()
    expect(Number(first![1])).toBe(Buffer.byteLength(first![2]!))
    expect(text).toMatch(/\d+ <132>1 .* second/)
    sink.close()
    server.close()
  })
})
