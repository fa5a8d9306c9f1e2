// What makes a lab disk bootable: the test a BIOS and a boot loader would make, reduced to its
// signatures. Sector 0 must end with the MBR signature 55 AA and hold a partition entry (type not 0,
// not the 0xEE of a GPT) whose first sector holds an ext2/3/4 superblock: magic EF53 at byte 1080 of
// the partition (superblock at 1024, s_magic at 56). A zeroed disk, a damaged boot sector or a damaged
// superblock fails the test. Bytes in, answer out: no I/O here.

const SECTOR = 512
const SUPERBLOCK_MAGIC_AT = 1024 + 56
const EXT_MAGIC = 0xef53

/** Byte offset of the first partition of an MBR sector, or undefined when it is not a boot sector. */
export function firstPartitionOffset(sector0: Uint8Array): number | undefined {
  if (sector0.length < SECTOR || sector0[510] !== 0x55 || sector0[511] !== 0xaa) return undefined
  const view = new DataView(sector0.buffer, sector0.byteOffset, SECTOR)
  for (let i = 0; i < 4; i++) {
    const entry = 446 + i * 16
    const type = sector0[entry + 4]
    const start = view.getUint32(entry + 8, true)
    if (type !== 0 && type !== 0xee && start > 0) return start * SECTOR
  }
  return undefined
}

/** Whether `superblock` (the 2 KiB at the start of a partition) holds an ext2/3/4 superblock. */
export function hasExtSuperblock(partitionHead: Uint8Array): boolean {
  if (partitionHead.length < SUPERBLOCK_MAGIC_AT + 2) return false
  return (partitionHead[SUPERBLOCK_MAGIC_AT]! | (partitionHead[SUPERBLOCK_MAGIC_AT + 1]! << 8)) === EXT_MAGIC
}

/** The os_version map a Linux guest agent derives from /etc/os-release (empty when there is none). */
export function osVersion(osRelease: string): Record<string, string> {
  const fields = new Map<string, string>()
  for (const line of osRelease.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim())
    if (m !== null) fields.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'))
  }
  const out: Record<string, string> = {}
  const name = fields.get('PRETTY_NAME') ?? fields.get('NAME')
  if (name !== undefined) out.name = name
  const id = fields.get('ID')
  if (id !== undefined) out.distro = id
  const [major, minor] = (fields.get('VERSION_ID') ?? '').split('.')
  if (major !== undefined && major !== '') out.major = major
  if (minor !== undefined && minor !== '') out.minor = minor
  if (Object.keys(out).length > 0) out.uname = '6.1.0-lab-amd64'
  return out
}

/**
 * The `vm-data` keys a lab guest writes after booting (the lab-only knob): lines `key=value` of its
 * /etc/strata-lab/vm-data file; blank lines and lines starting with # are skipped. Bounded: at most 64
 * keys, keys of [A-Za-z0-9_.-/] up to 128 characters, values up to 1024 characters.
 */
export function parseVmData(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of text.split('\n').slice(0, 256)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    const key = eq < 0 ? '' : line.slice(0, eq).trim()
    if (!/^[A-Za-z0-9_./-]{1,128}$/.test(key) || key.includes('..')) continue
    out[key] = line.slice(eq + 1).slice(0, 1024)
    if (Object.keys(out).length >= 64) break
  }
  return out
}
