// The lab pool: an XCP-ng pool in one process that speaks XAPI's wire protocol (JSON-RPC, event.from,
// tasks, the HTTP data handlers, /pool/xmldbdump), stores VDIs as sparse files with VHD-like chains and
// CBT, serves NBD like xapi-nbd, boots guests that report guest metrics, writes guest data on demand and
// misbehaves on request (faults). For tests and demos.
export { LabPool, type LabOptions, type LabConnection } from './lab-pool.js'
export type { HttpFault, Unreachable } from './faults.js'
export { Faults, MAX_UNREACHABLE_MS } from './faults.js'
export type { VersionProfile } from './api/lab-state.js'
export { DEFAULT_VMS, type SeedVm } from './seed.js'
export { parseDiskSize, type ManyVms } from './seed-many.js'
export { VM_DATA_FILE, type GuestState, type ResumedMemory } from './guest-agent.js'
export { PARTITION_OFFSET } from './disks/ext4-image.js'
export { BLOCK_SIZE } from './disks/disk-store.js'
export { LabOptionError } from './lab-errors.js'
