// What a lab pool is made of: its options, the version profiles, and the shared state the method
// modules work on (one per pool: nothing here is global, so several pools live in one process).
import { join } from 'node:path'
import type { LabState, VersionProfile } from './api/lab-state.js'
import { Sessions } from './api/sessions.js'
import { TaskEngine } from './api/tasks.js'
import { Database } from './db/database.js'
import { CLASSES } from './db/schema.js'
import { CbtLogs } from './disks/cbt.js'
import { DiskStore } from './disks/disk-store.js'
import { Faults } from './faults.js'
import { GuestAgents } from './guest-agent.js'
import type { ManyVms } from './seed-many.js'
import type { SeedVm } from './seed.js'

export interface LabOptions {
  /** Keep state and disks here (reloaded on the next start); default: a temp dir removed on close. */
  dataDir?: string
  /** 1 (default) or 2 hosts. */
  hosts?: 1 | 2
  /** The hosts' addresses (default 127.0.0.1 and 127.0.0.2): e.g. an address in a network namespace. */
  addresses?: string[]
  /** The pool's name_label (default 'Strata lab pool'); also names its hosts (`<slug>-host-1`). */
  name?: string
  profile?: VersionProfile
  user?: string
  password?: string
  /** TCP port for every host (default: ephemeral). */
  port?: number
  /** Seed VMs (default: DEFAULT_VMS; [] for none), or many small sparse ones for scale tests. */
  vms?: SeedVm[] | ManyVms
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
  /** From VM.start (or resume) to the guest's first report (guest metrics), in ms (default 500). */
  bootDelayMs?: number
  /** Size of the memory images of VM.suspend and VM.checkpoint, in bytes (default 4 MiB). */
  memoryImageBytes?: number
  /** physical_size of the local SR, in bytes (default 64 GiB). */
  srSize?: number
  /** From a database restore to the toolstack restart that applies it, in ms (xapi: a 'fuse'). */
  restoreFuseMs?: number
}

/** What a client needs to reach the lab: XapiClient's options, pinned (or explicitly insecure). */
export interface LabConnection {
  url: string
  user: string
  password: string
  fingerprint?: string
  insecureHttp?: boolean
}

export const PROFILES: Record<
  VersionProfile,
  { brand: string; product: string; xapi: string; minor: number; restricted: boolean }
> = {
  'xcp-ng-8.2': { brand: 'XCP-ng', product: '8.2.1', xapi: '1.249', minor: 16, restricted: false },
  'xcp-ng-8.3': { brand: 'XCP-ng', product: '8.3.0', xapi: '25.6', minor: 21, restricted: false },
  'xenserver-8': { brand: 'XenServer', product: '8.4.0', xapi: '25.6', minor: 21, restricted: true },
}

/** The hosts a pool seeds: their names (from the pool's name) and addresses. */
export function hostSpecs(options: LabOptions): { name: string; address: string }[] {
  const addresses = options.addresses ?? (options.hosts === 2 ? ['127.0.0.1', '127.0.0.2'] : ['127.0.0.1'])
  const slug =
    options.name === undefined
      ? 'lab'
      : options.name
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '') || 'lab'
  return addresses.map((address, i) => ({ name: `${slug}-host-${i + 1}`, address }))
}

export function newLabState(options: LabOptions, dir: string): LabState {
  const db = new Database(CLASSES)
  const disks = new DiskStore(join(dir, 'disks'))
  // An SR's physical size bounds the blocks its VDIs hold.
  disks.limitOf = (sr) => (db.has('SR', sr) ? Number(db.get('SR', sr).physical_size) : undefined)
  return {
    db,
    disks,
    cbt: new CbtLogs(),
    tasks: new TaskEngine(db, () => String(db.find('pool', () => true)[0]?.[1].master)),
    sessions: new Sessions(db, {
      user: options.user ?? 'root',
      password: options.password ?? 'lab-password',
      authFailureDelayMs: options.authFailureDelayMs ?? 5000,
    }),
    faults: new Faults(),
    profile: options.profile ?? 'xcp-ng-8.3',
    stepMs: options.stepMs ?? 20,
    dom0DetachMs: options.dom0DetachMs ?? 1000,
    diskBytesPerSecond: options.diskMBps === undefined ? undefined : options.diskMBps * 1024 * 1024,
    nbd: undefined,
    vtpmContents: new Map(),
    hostRef: (h) => h,
    certificates: new Map(),
    agents: new GuestAgents(db, disks, options.bootDelayMs ?? 500),
    memoryImageBytes: options.memoryImageBytes ?? 4 * 1024 * 1024,
    databaseRestored: () => undefined,
  }
}
