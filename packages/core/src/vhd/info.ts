// A JSON-able description of one VHD file (what `strata vhd info` prints).
import { formatUuid } from './bytes.js'
import { dateOfVhdTimestamp } from './footer.js'
import type { VhdChecks, VhdDisk } from './disk.js'

export interface VhdInfo {
  type: string
  size: number
  fileSize: number
  blockSize: number | undefined
  blocks: number
  allocatedBlocks: number
  uuid: string
  timestamp: string
  creator: string
  parent?: { uuid: string; name: string; locators: string[] }
  checksums: VhdChecks
}

export async function describeVhd(disk: VhdDisk, signal?: AbortSignal): Promise<VhdInfo> {
  const { footer, header } = disk
  const info: VhdInfo = {
    type: footer.diskType,
    size: footer.currentSize,
    fileSize: disk.access.size,
    blockSize: header?.blockSize,
    blocks: disk.blockCount,
    allocatedBlocks: disk.allocatedBlocks,
    uuid: formatUuid(footer.uuid),
    timestamp: dateOfVhdTimestamp(footer.timestamp).toISOString(),
    creator: footer.creatorApplication.replace(/\0/g, '').trim(),
    checksums: disk.checks,
  }
  if (disk.isDifferencing && header !== undefined) {
    info.parent = {
      uuid: formatUuid(header.parentUuid),
      name: header.parentUnicodeName,
      locators: await disk.locatorPaths(signal),
    }
  }
  return info
}
