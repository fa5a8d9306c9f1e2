// Forwarding of the server's and runs' log lines to a syslog server, RFC 5424 messages over UDP (one
// datagram each) or TCP (octet-counted framing, RFC 6587), reconnected on the next message after a drop.
// Forwarding never blocks nor fails the server: messages that cannot be sent are dropped.
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'
import { hostname } from 'node:os'
import { invalid } from './errors.js'
import type { LogSink, Severity } from './server-log.js'

const FACILITY_LOCAL0 = 16
const SEVERITY: Record<Severity, number> = { error: 3, warning: 4, info: 6 }

export interface SyslogTarget {
  readonly protocol: 'udp' | 'tcp'
  readonly host: string
  readonly port: number
}

export function parseSyslogUrl(text: string): SyslogTarget {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw invalid(`'${text}' is not udp://host:port or tcp://host:port`, 'body/syslog')
  }
  const protocol = url.protocol.slice(0, -1)
  if (
    (protocol !== 'udp' && protocol !== 'tcp') ||
    url.hostname === '' ||
    url.pathname.replace('/', '') !== ''
  )
    throw invalid(`'${text}' is not udp://host:port or tcp://host:port`, 'body/syslog')
  return {
    protocol,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 514 : Number(url.port),
  }
}

/** One RFC 5424 message: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG. */
export function formatSyslog(severity: Severity, message: string, app: string, time = new Date()): string {
  const pri = FACILITY_LOCAL0 * 8 + SEVERITY[severity]
  const host = hostname().replace(/\s/g, '') || '-'
  return `<${pri}>1 ${time.toISOString()} ${host} ${app} ${process.pid} - - ${message.replace(/\n/g, ' ')}`
}

export class SyslogSink implements LogSink {
  #udp: UdpSocket | undefined
  #tcp: Socket | undefined

  constructor(readonly target: SyslogTarget) {}

  write(severity: Severity, message: string, app = 'strata'): void {
    const line = formatSyslog(severity, message, app)
    if (this.target.protocol === 'udp') {
      this.#udp ??= createSocket(this.target.host.includes(':') ? 'udp6' : 'udp4').on(
        'error',
        () => undefined,
      )
      this.#udp.unref()
      this.#udp.send(line, this.target.port, this.target.host)
      return
    }
    if (this.#tcp === undefined || this.#tcp.destroyed) {
      const socket = connect({ host: this.target.host, port: this.target.port })
      socket.on('error', () => socket.destroy())
      socket.unref()
      this.#tcp = socket
    }
    const bytes = Buffer.from(line)
    this.#tcp.write(`${bytes.length} ${line}`)
  }

  close(): void {
    this.#udp?.close()
    this.#tcp?.end()
  }
}
