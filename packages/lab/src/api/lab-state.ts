// What the method modules share: the database, the disks, CBT logs, tasks, sessions, the version
// profile and the knobs. One LabState per pool.
import type { Database } from '../db/database.js'
import type { CbtLogs } from '../disks/cbt.js'
import type { DiskStore } from '../disks/disk-store.js'
import type { Faults } from '../faults.js'
import type { GuestAgents } from '../guest-agent.js'
import type { Sessions } from './sessions.js'
import type { TaskEngine } from './tasks.js'

/** xcp-ng-8.2: no ignore_vdis; xenserver-8: CBT and VTPM restricted by licence (unlicensed pool). */
export type VersionProfile = 'xcp-ng-8.2' | 'xcp-ng-8.3' | 'xenserver-8'

export interface NbdEndpoint {
  port: number
  cert: string
  subject: string
}

export interface LabState {
  db: Database
  disks: DiskStore
  cbt: CbtLogs
  tasks: TaskEngine
  sessions: Sessions
  faults: Faults
  profile: VersionProfile
  /** Duration of one simulated step of a long operation (snapshot, clone…), in ms. */
  stepMs: number
  /** How long a dom0 VBD outlives an NBD connection or a transfer (VDI_IN_USE window), in ms. */
  dom0DetachMs: number
  /** Disk bandwidth of HTTP exports and NBD reads, in bytes per second (undefined: unlimited). */
  diskBytesPerSecond: number | undefined
  nbd: NbdEndpoint | undefined
  /** VTPM contents by VTPM ref: secrets, never in records. */
  vtpmContents: Map<string, string>
  /** The host whose listener received a request → its ref. */
  hostRef(listener: string): string
  /** Each host's certificate (PEM) by host ref: what host.get_server_certificate answers. */
  certificates: Map<string, string>
  /** The guests of running VMs: boots, guest metrics, vm-data keys, resumed memory images. */
  agents: GuestAgents
  /** Size of the memory images VM.suspend and VM.checkpoint write (a real one is the VM's RAM). */
  memoryImageBytes: number
  /**
   * A restored database is ready (PUT /pool/xmldbdump): `apply` puts it in place, `master` is the host
   * record this host becomes; the toolstack then restarts on it.
   */
  databaseRestored(apply: () => void, master: string): void
}
