// A lab pool: one or two hosts on loopback addresses (127.0.0.1, 127.0.0.2, same port, so HOST_IS_SLAVE
// and 302s name a bare address like xapi), each with its own certificate, serving HTTPS by default; the
// JSON-RPC API, HTTP data handlers, an NBD server with host 1's certificate, guest activity and faults.
// Always close() it.
import { once } from 'node:events'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NbdServer } from '@strata/core/nbd'
import { registerDeviceMethods } from './api/device-methods.js'
import { Dispatcher } from './api/dispatcher.js'
import { registerEvents } from './api/events.js'
import { genericMethod } from './api/generic.js'
import type { LabState, VersionProfile } from './api/lab-state.js'
import { Sessions } from './api/sessions.js'
import { TaskEngine } from './api/tasks.js'
import { registerVdiMethods } from './api/vdi-methods.js'
import { registerVmMethods } from './api/vm-methods.js'
import { registerVtpmMethods } from './api/vtpm-methods.js'
import { registerLabMethods } from './api/lab-methods.js'
import { registerGuestMethods } from './api/guest-methods.js'
import { Database } from './db/database.js'
import { CLASSES } from './db/schema.js'
import { CbtLogs } from './disks/cbt.js'
import { DiskStore } from './disks/disk-store.js'
import { Faults } from './faults.js'
import { Guest } from './guest.js'
import { makeHostCertificate, type HostCertificate } from './host-certificate.js'
import { createHostServer } from './http/server.js'
import { startNbd } from './nbd.js'
import { loadState, saveState } from './persistence.js'
import { DEFAULT_VMS, seedInfrastructure, seedVm, type SeedVm } from './seed.js'

export interface LabOptions {
  /** Keep state and disks here (reloaded on the next start); default: a temp dir removed on close. */
  dataDir?: string
  /** 1 (default) or 2 hosts. */
  hosts?: 1 | 2
  profile?: VersionProfile
  user?: string
  password?: string
  /** TCP port for every host (default: ephemeral). */
  port?: number
  /** Seed VMs (default: DEFAULT_VMS; [] for none). */
  vms?: SeedVm[]
  stepMs?: number
  authFailureDelayMs?: number
  dom0DetachMs?: number
  /** Slow disks: HTTP exports and NBD reads limited to this many MiB/s (for demos and timeouts). */
  diskMBps?: number
  /**
   * NBD: the network's purpose at the start. 'nbd' (default: TLS with the host certificate, made with
   * openssl) or 'insecure_nbd' (clear text); the NBD server then follows `network.add_purpose` and
   * `remove_purpose` at each new connection, as xapi-nbd does. 'none' (or false): no network has an NBD
   * purpose and no NBD server runs (get_nbd_info answers []).
   */
  nbd?: boolean | 'nbd' | 'insecure_nbd' | 'none'
  /**
   * Serve XAPI over HTTPS with each host's certificate, like port 443 of a real host (default). false:
   * plain HTTP, like port 80, which clients accept only when told to (insecureHttp).
   */
  https?: boolean
}

interface HostRuntime {
  ref: string
  address: string
  server: Server
}

/** What a client needs to reach the lab: XapiClient's options, pinned (or explicitly insecure). */
export interface LabConnection {
  url: string
  user: string
  password: string
  fingerprint?: string
  insecureHttp?: boolean
}

const PROFILES: Record<
  VersionProfile,
  { brand: string; product: string; xapi: string; minor: number; restricted: boolean }
> = {
  'xcp-ng-8.2': { brand: 'XCP-ng', product: '8.2.1', xapi: '1.249', minor: 16, restricted: false },
  'xcp-ng-8.3': { brand: 'XCP-ng', product: '8.3.0', xapi: '25.6', minor: 21, restricted: false },
  'xenserver-8': { brand: 'XenServer', product: '8.4.0', xapi: '25.6', minor: 21, restricted: true },
}

export class LabPool {
  readonly guest: Guest
  readonly #hosts: HostRuntime[] = []
  #nbd: NbdServer | undefined
  #port = 0
  #scheme: 'http' | 'https' = 'https'
  /** Each host's certificate, by host ref. */
  readonly #certs = new Map<string, HostCertificate>()

  private constructor(
    readonly state: LabState,
    readonly dispatcher: Dispatcher,
    readonly dir: string,
    private readonly ownDir: boolean,
    readonly user: string,
    readonly password: string,
    /** How many times each wire method was called (the call log tests read). */
    readonly calls: Map<string, number>,
  ) {
    this.guest = new Guest(state)
  }

  static async start(options: LabOptions = {}): Promise<LabPool> {
    const dir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'strata-lab-')))
    await mkdir(join(dir, 'disks'), { recursive: true })
    const db = new Database(CLASSES)
    const user = options.user ?? 'root'
    const password = options.password ?? 'lab-password'
    const profile = options.profile ?? 'xcp-ng-8.3'
    const state: LabState = {
      db,
      disks: new DiskStore(join(dir, 'disks')),
      cbt: new CbtLogs(),
      tasks: new TaskEngine(db, () => String(db.find('pool', () => true)[0]?.[1].master)),
      sessions: new Sessions(db, { user, password, authFailureDelayMs: options.authFailureDelayMs ?? 5000 }),
      faults: new Faults(),
      profile,
      stepMs: options.stepMs ?? 20,
      dom0DetachMs: options.dom0DetachMs ?? 1000,
      diskBytesPerSecond: options.diskMBps === undefined ? undefined : options.diskMBps * 1024 * 1024,
      nbd: undefined,
      vtpmContents: new Map(),
      hostRef: (h) => h,
      certificates: new Map(),
    }
    const calls = new Map<string, number>()
    const dispatcher = new Dispatcher({
      checkSession: (s, host) => state.sessions.check(s, host),
      runAsync: (name, ctx, run) => state.tasks.run(name, ctx, run),
      before: (method, host) => {
        calls.set(method, (calls.get(method) ?? 0) + 1)
        return state.faults.beforeCall(method, host)
      },
    })
    const lab = new LabPool(state, dispatcher, dir, options.dataDir === undefined, user, password, calls)
    lab.#registerMethods()
    try {
      const addresses = options.hosts === 2 ? ['127.0.0.1', '127.0.0.2'] : ['127.0.0.1']
      if (!(await loadState(state, dir))) {
        const purpose =
          options.nbd === false || options.nbd === 'none'
            ? []
            : [options.nbd === 'insecure_nbd' ? 'insecure_nbd' : 'nbd']
        const infra = seedInfrastructure(
          state,
          addresses.map((address, i) => ({ name: `lab-host-${i + 1}`, address })),
          PROFILES[profile],
          purpose,
        )
        for (const vm of options.vms ?? DEFAULT_VMS) await seedVm(state, infra, vm)
      }
      const wantsNbd = options.nbd !== false && options.nbd !== 'none'
      for (const [ref] of state.db.find('host', () => true)) await lab.#makeCertificate(ref, false)
      await lab.#listen(options.port ?? 0, options.https ?? true)
      if (wantsNbd) await lab.#startNbd()
      return lab
    } catch (error) {
      await lab.close()
      throw error
    }
  }

  /** The master's URL. */
  get url(): string {
    return `${this.#scheme}://${this.#master()?.address}:${this.#port}`
  }

  get hosts(): { ref: string; address: string; url: string; certificate: string; fingerprint: string }[] {
    return this.#hosts.map((h) => ({
      ref: h.ref,
      address: h.address,
      url: `${this.#scheme}://${h.address}:${this.#port}`,
      certificate: this.#certs.get(h.ref)!.cert,
      fingerprint: this.#certs.get(h.ref)!.fingerprint,
    }))
  }

  /** PEM of the certificate of the host `url` names (its HTTPS front; host 1's also serves NBD). */
  get certificate(): string {
    return this.#certs.get(this.#master()!.ref)!.cert
  }

  /** SHA-256 fingerprint of `certificate`: what a client pins (`--fingerprint`). */
  get fingerprint(): string {
    return this.#certs.get(this.#master()!.ref)!.fingerprint
  }

  get https(): boolean {
    return this.#scheme === 'https'
  }

  /** XapiClient options for the master: pinned over HTTPS, explicitly insecure over HTTP. */
  get connection(): LabConnection {
    const who = { url: this.url, user: this.user, password: this.password }
    return this.https ? { ...who, fingerprint: this.fingerprint } : { ...who, insecureHttp: true }
  }

  /**
   * A new certificate (new key) for a host, as when an admin renews it: its HTTPS front presents it to
   * new connections, host.get_server_certificate returns it, and host 1's NBD server restarts with it.
   * Returns the new fingerprint.
   */
  async renewCertificate(host = this.#master()!.ref): Promise<string> {
    const cert = await this.#makeCertificate(host, true)
    const runtime = this.#hosts.find((h) => h.ref === host)
    if (runtime !== undefined && this.https) (runtime.server as HttpsServer).setSecureContext(cert)
    if (this.#nbd !== undefined && host === this.#hosts[0]?.ref) {
      await this.#nbd.close()
      await this.#startNbd()
    }
    return cert.fingerprint
  }

  get faults(): Faults {
    return this.state.faults
  }

  get nbd(): NbdServer | undefined {
    return this.#nbd
  }

  /** Names of the guest VMs (not templates, snapshots or control domains). */
  vmNames(): string[] {
    return this.state.db
      .find('VM', (r) => r.is_a_template !== true && r.is_a_snapshot !== true && r.is_control_domain !== true)
      .map(([, r]) => String(r.name_label))
      .sort()
  }

  /** The whole content of a VDI as the guest sees it (a test convenience). */
  readDisk(vdi: string): Promise<Buffer> {
    return this.state.disks.read(vdi, 0, this.state.disks.size(vdi))
  }

  /** First object of a class whose name_label is `label` (a test convenience). */
  ref(cls: string, label: string): string {
    const found = this.state.db.find(cls, (r) => r.name_label === label)[0]
    if (found === undefined) throw new Error(`no ${cls} named '${label}' in the lab`)
    return found[0]
  }

  /** Ends every session (clients then get SESSION_INVALID). */
  expireSessions(): void {
    this.state.sessions.expireAll()
  }

  /**
   * A toolstack restart: sessions and tasks vanish, every connection is reset, the hosts stop answering
   * for `downMs`, then come back with the same objects (generation keeps increasing).
   */
  async restartToolstack(downMs = 200): Promise<void> {
    this.state.sessions.expireAll()
    for (const [ref] of this.state.db.find('task', () => true)) this.state.db.delete('task', ref)
    this.#nbd?.dropConnections()
    await Promise.all(this.#hosts.map((h) => closeServer(h.server)))
    await new Promise((r) => setTimeout(r, downMs))
    for (const h of this.#hosts) await listen(h.server, this.#port, h.address)
  }

  /** Makes another host the master (logins on the old one then get HOST_IS_SLAVE). */
  failover(toHost: string): void {
    const [pool] = this.state.db.find('pool', () => true)[0] ?? []
    if (pool !== undefined) this.state.db.update('pool', pool, { master: toHost })
  }

  /** Stops a host's listener (the master is "gone"). */
  async stopHost(host: string): Promise<void> {
    const h = this.#hosts.find((x) => x.ref === host)
    if (h !== undefined) await closeServer(h.server)
  }

  async save(): Promise<void> {
    await saveState(this.state, this.dir)
  }

  async close(): Promise<void> {
    await this.#nbd?.close()
    await Promise.all(this.#hosts.map((h) => closeServer(h.server)))
    if (!this.ownDir) await this.save()
    await this.state.disks.close()
    if (this.ownDir) await rm(this.dir, { recursive: true, force: true })
  }

  #registerMethods(): void {
    const d = this.dispatcher
    const { db } = this.state
    d.fallback = (name) => genericMethod(db, name)
    this.state.sessions.register(d, (h) => h)
    this.state.tasks.register(d)
    registerEvents(d, db)
    registerVmMethods(d, this.state)
    registerVdiMethods(d, this.state)
    registerDeviceMethods(d, this.state)
    registerVtpmMethods(d, this.state)
    registerLabMethods(d, this.state, {
      guest: this.guest,
      restartToolstack: (ms) => this.restartToolstack(ms),
    })
    registerGuestMethods(d, this.guest)
    d.register('system.listMethods', {
      params: 0,
      noSession: true,
      handler: () => {
        const generic = CLASSES.filter((c) => c !== 'session').flatMap((c) =>
          ['get_all', 'get_all_records', 'get_record', 'get_by_uuid'].map((m) => `${c}.${m}`),
        )
        return [...new Set([...d.methods.keys(), ...generic])].sort()
      },
    })
  }

  #master(): HostRuntime | undefined {
    const master = String(this.state.db.find('pool', () => true)[0]?.[1].master)
    return this.#hosts.find((h) => h.ref === master) ?? this.#hosts[0]
  }

  async #makeCertificate(host: string, renew: boolean): Promise<HostCertificate> {
    const row = this.state.db.get('host', host)
    const name = String(row.hostname)
    const cert = await makeHostCertificate(join(this.dir, 'tls', name), name, [String(row.address)], renew)
    this.#certs.set(host, cert)
    this.state.certificates.set(host, cert.cert)
    return cert
  }

  async #listen(port: number, https: boolean): Promise<void> {
    this.#scheme = https ? 'https' : 'http'
    const hosts = this.state.db.find('host', () => true)
    for (const [i, [ref, row]] of hosts.entries()) {
      const other = hosts.find(([r]) => r !== ref)
      const server = createHostServer(
        this.state,
        this.dispatcher,
        { host: ref, redirectTo: () => (other === undefined ? undefined : String(other[1].address)) },
        https ? this.#certs.get(ref) : undefined,
      )
      await listen(server, i === 0 ? port : this.#port, String(row.address))
      if (i === 0) this.#port = (server.address() as AddressInfo).port
      this.#hosts.push({ ref, address: String(row.address), server })
    }
  }

  async #startNbd(): Promise<void> {
    const [host, row] = this.state.db.find('host', () => true)[0] ?? []
    const cert = host === undefined ? undefined : this.#certs.get(host)
    if (host === undefined || row === undefined || cert === undefined) return
    this.#nbd = await startNbd(this.state, host, String(row.address), cert)
    this.state.nbd = { port: this.#nbd.port ?? 0, cert: cert.cert, subject: String(row.hostname) }
  }
}

async function listen(server: Server, port: number, host: string): Promise<void> {
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
