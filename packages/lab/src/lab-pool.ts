// A lab pool: one or two hosts on loopback addresses (127.0.0.1, 127.0.0.2, same port, so HOST_IS_SLAVE
// and 302s name a bare address like xapi), each with its own certificate, serving HTTPS by default; the
// JSON-RPC API, HTTP data handlers, an NBD server with host 1's certificate, booting guests, guest
// activity and faults. Nothing is global: pools started side by side are independent. Always close() it.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NbdServer } from '@strata/core/nbd'
import { registerDeviceMethods } from './api/device-methods.js'
import { Dispatcher } from './api/dispatcher.js'
import { registerEvents } from './api/events.js'
import { genericMethod } from './api/generic.js'
import { registerGuestAgentMethods, registerGuestMethods } from './api/guest-methods.js'
import { registerLabMethods } from './api/lab-methods.js'
import type { LabState } from './api/lab-state.js'
import { registerSrMethods, setPhysicalSize } from './api/sr-space.js'
import { registerVdiMethods } from './api/vdi-methods.js'
import { registerVmMethods } from './api/vm-methods.js'
import { registerVtpmMethods } from './api/vtpm-methods.js'
import { CLASSES } from './db/schema.js'
import type { Faults } from './faults.js'
import { Guest } from './guest.js'
import type { ResumedMemory } from './guest-agent.js'
import { HostFront } from './host-front.js'
import { hostSpecs, newLabState, PROFILES, type LabConnection, type LabOptions } from './lab-options.js'
import { loadState, saveState } from './persistence.js'
import { seedManyVms } from './seed-many.js'
import { DEFAULT_VMS, seedInfrastructure, seedVm } from './seed.js'

export type { LabConnection, LabOptions } from './lab-options.js'

export class LabPool {
  readonly guest: Guest
  readonly dispatcher: Dispatcher
  readonly #front: HostFront
  #restoreFuseMs = 500

  private constructor(
    readonly state: LabState,
    readonly dir: string,
    private readonly ownDir: boolean,
    readonly user: string,
    readonly password: string,
    /** How many times each wire method was called (the call log tests read). */
    readonly calls: Map<string, number>,
  ) {
    this.guest = new Guest(state)
    this.dispatcher = new Dispatcher({
      checkSession: (s, host) => state.sessions.check(s, host),
      runAsync: (name, ctx, run) => state.tasks.run(name, ctx, run),
      before: (method, host) => {
        calls.set(method, (calls.get(method) ?? 0) + 1)
        return state.faults.beforeCall(method, host)
      },
    })
    this.#front = new HostFront(state, this.dispatcher, dir)
    state.faults.onUnreachable = (mode) => this.#front.setUnreachable(mode)
    state.databaseRestored = (apply, master) => this.#databaseRestored(apply, master)
    this.#registerMethods()
  }

  static async start(options: LabOptions = {}): Promise<LabPool> {
    const dir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'strata-lab-')))
    await mkdir(join(dir, 'disks'), { recursive: true })
    const state = newLabState(options, dir)
    const lab = new LabPool(
      state,
      dir,
      options.dataDir === undefined,
      options.user ?? 'root',
      options.password ?? 'lab-password',
      new Map(),
    )
    lab.#restoreFuseMs = options.restoreFuseMs ?? 500
    try {
      if (await loadState(state, dir)) lab.#bootRunningGuests()
      else await lab.#seed(options)
      const wantsNbd = options.nbd !== false && options.nbd !== 'none'
      for (const [ref] of state.db.find('host', () => true)) await lab.#front.makeCertificate(ref, false)
      await lab.#front.listen(options.port ?? 0, options.https ?? true)
      if (wantsNbd) await lab.#front.startNbd()
      return lab
    } catch (error) {
      await lab.close()
      throw error
    }
  }

  /** The master's URL. */
  get url(): string {
    return `${this.#front.scheme}://${this.#front.master()?.address}:${this.#front.port}`
  }

  get hosts(): { ref: string; address: string; url: string; certificate: string; fingerprint: string }[] {
    return this.#front.hosts.map((h) => ({
      ref: h.ref,
      address: h.address,
      url: `${this.#front.scheme}://${h.address}:${this.#front.port}`,
      certificate: this.#front.certs.get(h.ref)!.cert,
      fingerprint: this.#front.certs.get(h.ref)!.fingerprint,
    }))
  }

  /** PEM of the certificate of the host `url` names (its HTTPS front; host 1's also serves NBD). */
  get certificate(): string {
    return this.#front.certs.get(this.#front.master()!.ref)!.cert
  }

  /** SHA-256 fingerprint of `certificate`: what a client pins (`--fingerprint`). */
  get fingerprint(): string {
    return this.#front.certs.get(this.#front.master()!.ref)!.fingerprint
  }

  get https(): boolean {
    return this.#front.scheme === 'https'
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
  renewCertificate(host = this.#front.master()!.ref): Promise<string> {
    return this.#front.renewCertificate(host)
  }

  get faults(): Faults {
    return this.state.faults
  }

  get nbd(): NbdServer | undefined {
    return this.#front.nbd
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

  /** What the last VM.resume of `vm` restored (undefined if it was never resumed). */
  resumedMemory(vm: string): ResumedMemory | undefined {
    return this.state.agents.resumed.get(vm)
  }

  /** A small or full SR on demand (see docs/dev/lab.md, SR space). */
  setSrPhysicalSize(sr: string, bytes: number): void {
    setPhysicalSize(this.state, sr, bytes)
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
    await this.#front.restart(downMs)
  }

  /** Makes another host the master (logins on the old one then get HOST_IS_SLAVE). */
  failover(toHost: string): void {
    const [pool] = this.state.db.find('pool', () => true)[0] ?? []
    if (pool !== undefined) this.state.db.update('pool', pool, { master: toHost })
  }

  /** Stops a host's listener (the master is "gone"). */
  stopHost(host: string): Promise<void> {
    return this.#front.stopHost(host)
  }

  async save(): Promise<void> {
    await saveState(this.state, this.dir)
  }

  async close(): Promise<void> {
    await this.state.faults.setUnreachable(undefined).catch(() => undefined)
    await this.#front.close()
    await this.state.agents.close()
    if (!this.ownDir) await this.save()
    await this.state.disks.close()
    if (this.ownDir) await rm(this.dir, { recursive: true, force: true })
  }

  async #seed(options: LabOptions): Promise<void> {
    const profile = PROFILES[this.state.profile]
    const purpose =
      options.nbd === false || options.nbd === 'none'
        ? []
        : [options.nbd === 'insecure_nbd' ? 'insecure_nbd' : 'nbd']
    const infra = seedInfrastructure(this.state, {
      name: options.name ?? 'Strata lab pool',
      hosts: hostSpecs(options),
      version: profile,
      nbdPurpose: purpose,
      srSize: options.srSize ?? 64 * 1024 ** 3,
    })
    const vms = options.vms ?? DEFAULT_VMS
    if (Array.isArray(vms)) for (const vm of vms) await seedVm(this.state, infra, vm)
    else await seedManyVms(this.state, infra, vms)
    // Seeded running VMs have been up for a while: their guests have reported already (many VMs boot
    // in the background, a few at a time).
    const running = this.state.db.find(
      'VM',
      (r) => r.power_state === 'Running' && r.is_control_domain !== true,
    )
    for (const [vm] of running)
      if (Array.isArray(vms)) await this.state.agents.bootNow(vm)
      else this.state.agents.boot(vm, undefined, 0)
  }

  /** After a reload: running guests that had not reported boot again. */
  #bootRunningGuests(): void {
    const running = this.state.db.find(
      'VM',
      (r) =>
        r.power_state === 'Running' && r.is_control_domain !== true && r.guest_metrics === 'OpaqueRef:NULL',
    )
    for (const [vm] of running) this.state.agents.boot(vm)
  }

  /** PUT /pool/xmldbdump: after the fuse, the database is replaced and the toolstack restarts on it. */
  #databaseRestored(apply: () => void, master: string): void {
    setTimeout(() => {
      void (async () => {
        this.state.sessions.expireAll()
        for (const [ref] of this.state.db.find('task', () => true)) this.state.db.delete('task', ref)
        await this.state.agents.close()
        apply()
        await this.#front.rebind(master)
        await this.#front.restart(50)
        this.#bootRunningGuests()
      })().catch(() => undefined)
    }, this.#restoreFuseMs).unref()
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
    registerSrMethods(d, this.state)
    registerDeviceMethods(d, this.state)
    registerVtpmMethods(d, this.state)
    registerLabMethods(d, this.state, {
      guest: this.guest,
      restartToolstack: (ms) => this.restartToolstack(ms),
    })
    registerGuestMethods(d, this.guest)
    registerGuestAgentMethods(d, this.guest)
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
}
