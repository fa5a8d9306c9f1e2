import { describe, expect, it } from 'vitest'
import { firstPartitionOffset, hasExtSuperblock, osVersion, parseVmData } from './boot-sector.js'
import { mbr, PARTITION_OFFSET } from './ext4-image.js'

describe('what makes a lab disk bootable', () => {
  it('finds the first partition of an MBR and refuses a zeroed or damaged boot sector', () => {
    const sector = mbr(64 * 1024 * 1024)
    expect(firstPartitionOffset(sector)).toBe(PARTITION_OFFSET)
    expect(firstPartitionOffset(Buffer.alloc(512))).toBeUndefined()
    const noSignature = Buffer.from(sector)
    noSignature[511] = 0
    expect(firstPartitionOffset(noSignature)).toBeUndefined()
    const noPartition = Buffer.from(sector)
    noPartition.fill(0, 446, 510)
    expect(firstPartitionOffset(noPartition)).toBeUndefined()
    const gpt = Buffer.from(sector)
    gpt[446 + 4] = 0xee
    expect(firstPartitionOffset(gpt)).toBeUndefined()
  })

  it('recognises an ext superblock by its magic at byte 1080', () => {
    const head = Buffer.alloc(2048)
    expect(hasExtSuperblock(head)).toBe(false)
    head.writeUInt16LE(0xef53, 1080)
    expect(hasExtSuperblock(head)).toBe(true)
    expect(hasExtSuperblock(head.subarray(0, 1000))).toBe(false)
  })

  it('reads os_version from os-release and bounded vm-data keys', () => {
    expect(osVersion('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12.5"\n')).toEqual(
      {
        name: 'Debian GNU/Linux 12 (bookworm)',
        distro: 'debian',
        major: '12',
        minor: '5',
        uname: '6.1.0-lab-amd64',
      },
    )
    expect(osVersion('')).toEqual({})
    expect(parseVmData('# comment\nxo-backup-health-check=success\n\nbad key=x\n../up=x\nk=a=b\n')).toEqual({
      'xo-backup-health-check': 'success',
      k: 'a=b',
    })
    const many = Array.from({ length: 100 }, (_, i) => `k${i}=v`).join('\n')
    expect(Object.keys(parseVmData(many))).toHaveLength(64)
  })
})
