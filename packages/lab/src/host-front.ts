// The hosts' network fronts: one HTTP(S) listener per host (same port, one loopback address each), host
// 1's NBD server, their certificates, and what makes them go away: a toolstack restart, a stopped
// host, an unreachable pool (listeners closed, or replaced by ones that accept and never answer), a
// restored database whose master is another host record.
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net'
import { join } from 'node:path'
import type { NbdServer } from '@strata/core/nbd'
import type { Dispatcher } from './api/dispatcher.js'
import type { LabState } from './api/lab-state.js'
import type { Unreachable } from './faults.js'
import { makeHostCertificate, type HostCertificate } from './host-certificate.js'
import { createHostServer } from './http/server.js'
import { startNbd } from './nbd.js'

export interface HostRuntime {
  ref: string
  address: string
  server: Server
}

export class HostFront {
  readonly hosts: HostRuntime[] = []
  /** Each host's certificate, by host ref. */
  readonly certs = new Map<string, HostCertificate>()
  nbd: NbdServer | undefined
  port = 0
  scheme: 'http' | 'https' = 'https'
  #nbdPort = 0
  #wantsNbd = false
  /** Listeners that accept and never answer (an unreachable pool that hangs), and their sockets. */
  #holders: TcpServer[] = []
  readonly #held = new Set<Socket>()

  constructor(
    readonly state: LabState,
    readonly dispatcher: Dispatcher,
    readonly dir: string,
  ) {}

  master(): HostRuntime | undefined {
    const master = String(this.state.db.find('pool', () => true)[0]?.[1].master)
    return this.hosts.find((h) => h.ref === master) ?? this.hosts[0]
  }

  async makeCertificate(host: string, renew: boolean): Promise<HostCertificate> {
    const row = this.state.db.get('host', host)
    const name = String(row.hostname)
    const cert = await makeHostCertificate(join(this.dir, 'tls', name), name, [String(row.address)], renew)
    this.certs.set(host, cert)
    this.state.certificates.set(host, cert.cert)
    return cert
  }

  async listen(port: number, https: boolean): Promise<void> {
    this.scheme = https ? 'https' : 'http'
    for (const [i, [ref, row]] of this.state.db.find('host', () => true).entries()) {
      const server = this.#server(ref)
      await listen(server, i === 0 ? port : this.port, String(row.address))
      if (i === 0) this.port = (server.address() as AddressInfo).port
      this.hosts.push({ ref, address: String(row.address), server })
    }
  }

  async startNbd(): Promise<void> {
    const [host, row] = this.state.db.find('host', () => true)[0] ?? []
    const cert = host === undefined ? undefined : this.certs.get(host)
    if (host === undefined || row === undefined || cert === undefined) return
    this.#wantsNbd = true
    this.nbd = await startNbd(this.state, host, String(row.address), cert, this.#nbdPort)
    this.#nbdPort = this.nbd.port ?? 0
    this.state.nbd = { port: this.#nbdPort, cert: cert.cert, subject: String(row.hostname) }
  }

  async renewCertificate(host: string): Promise<string> {
    const cert = await this.makeCertificate(host, true)
    const runtime = this.hosts.find((h) => h.ref === host)
    if (runtime !== undefined && this.scheme === 'https')
      (runtime.server as HttpsServer).setSecureContext(cert)
    if (this.nbd !== undefined && host === this.hosts[0]?.ref) {
      await this.nbd.close()
      await this.startNbd()
    }
    return cert.fingerprint
  }

  /** Every connection reset, nothing listening for `downMs`, then the same listeners again. */
  async restart(downMs: number): Promise<void> {
    this.nbd?.dropConnections()
    await Promise.all(this.hosts.map((h) => closeServer(h.server)))
    await new Promise((r) => setTimeout(r, downMs))
    if (this.state.faults.unreachable === undefined) await this.#relisten()
  }

  async stopHost(host: string): Promise<void> {
    const h = this.hosts.find((x) => x.ref === host)
    if (h !== undefined) await closeServer(h.server)
  }

  /** Applies Faults.setUnreachable: listeners closed (refuse) or silent (hang), or back again. */
  async setUnreachable(mode: Unreachable | undefined): Promise<void> {
    await this.#closeHolders()
    await Promise.all(this.hosts.map((h) => closeServer(h.server)))
    await this.nbd?.close()
    this.nbd = undefined
    if (mode === 'hang') {
      for (const h of this.hosts) this.#holders.push(await this.#hold(this.port, h.address))
      if (this.#wantsNbd) this.#holders.push(await this.#hold(this.#nbdPort, this.hosts[0]!.address))
    } else if (mode === undefined) {
      await this.#relisten()
      if (this.#wantsNbd) await this.startNbd()
    }
  }

  /**
   * After a database restore: host 1's front becomes the backup's master (its ref), the fronts of
   * hosts that are no longer in the database stop.
   */
  async rebind(master: string): Promise<void> {
    const [first, ...others] = this.hosts
    if (first === undefined) return
    for (const h of others) if (!this.state.db.has('host', h.ref)) await closeServer(h.server)
    this.hosts.splice(1, this.hosts.length, ...others.filter((h) => this.state.db.has('host', h.ref)))
    if (first.ref === master) return
    const cert = this.certs.get(first.ref)
    if (cert !== undefined) {
      this.certs.set(master, cert)
      this.state.certificates.set(master, cert.cert)
    }
    await closeServer(first.server)
    first.ref = master
    first.server = this.#server(master)
    // The NBD server attaches its dom0 VBDs as host 1: it serves as the new record.
    if (this.nbd !== undefined) {
      await this.nbd.close()
      await this.startNbd()
    }
  }

  async close(): Promise<void> {
    await this.#closeHolders()
    await this.nbd?.close()
    await Promise.all(this.hosts.map((h) => closeServer(h.server)))
  }

  #server(ref: string): Server {
    const other = (): string | undefined => this.hosts.find((h) => h.ref !== ref)?.address
    const cert = this.scheme === 'https' ? this.certs.get(ref) : undefined
    return createHostServer(this.state, this.dispatcher, { host: ref, redirectTo: other }, cert)
  }

  async #relisten(): Promise<void> {
    for (const h of this.hosts) if (!h.server.listening) await listen(h.server, this.port, h.address)
  }

  /** A listener that accepts connections and never answers them. */
  async #hold(port: number, address: string): Promise<TcpServer> {
    const server = createTcpServer((socket) => {
      this.#held.add(socket)
      socket.on('close', () => this.#held.delete(socket))
      socket.on('error', () => {})
    })
    await listen(server, port, address)
    return server
  }

  async #closeHolders(): Promise<void> {
    for (const s of this.#held) s.destroy()
    this.#held.clear()
    await Promise.all(this.#holders.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    this.#holders = []
  }
}

async function listen(server: Server | TcpServer, port: number, host: string): Promise<void> {
  server.listen(port, host)
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([e]) => Promise.reject(e as Error)),
  ])
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeAllConnections()
  await closed
}
