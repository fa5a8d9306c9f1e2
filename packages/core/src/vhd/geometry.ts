// CHS geometry of the footer, computed as in the VHD specification's appendix. Only BIOS-era guests
// use it; readers that matter (vhd-tool, Hyper-V, ours) use the footer's current size. qemu, though,
// sizes disks from CHS unless the geometry is the maximum or the creator is one it knows: see
// `geometryFor` for how our writer keeps qemu reading the exact size.
import { SECTOR_SIZE } from './constants.js'

export interface Geometry {
  cylinders: number
  heads: number
  sectorsPerTrack: number
}

export const MAX_GEOMETRY: Geometry = { cylinders: 65535, heads: 16, sectorsPerTrack: 255 }

export function chsGeometry(sizeBytes: number): Geometry {
  let totalSectors = Math.floor(sizeBytes / SECTOR_SIZE)
  if (totalSectors > 65535 * 16 * 255) totalSectors = 65535 * 16 * 255
  let sectorsPerTrack: number
  let heads: number
  let cylinderTimesHeads: number
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255
    heads = 16
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
  } else {
    sectorsPerTrack = 17
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024))
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31
      heads = 16
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63
      heads = 16
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack }
}

export const geometryBytes = (g: Geometry): number => g.cylinders * g.heads * g.sectorsPerTrack * SECTOR_SIZE

/**
 * The geometry our writer stores: the specification's CHS when it covers the disk exactly, otherwise
 * the maximum geometry. qemu derives the size from CHS for creators it does not know, which would cut
 * the end of most disks; the maximum geometry is its documented signal to use the current size
 * instead (what Hyper-V does for disks beyond CHS range). vhd-tool and libvhdi ignore the geometry.
 */
export function geometryFor(sizeBytes: number): Geometry {
  const chs = chsGeometry(sizeBytes)
  return geometryBytes(chs) === sizeBytes ? chs : MAX_GEOMETRY
}
