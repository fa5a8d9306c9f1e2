// The records an imported point carries: XO's delta metadata and an XVA's ova.xml put in the shape of a
// Strata point's, so that `strata restore vm` rebuilds the VM from them.
import { describe, expect, it } from 'vitest'
import { isPointMetadata } from '../engine/vm-metadata.js'
import { parseMetadata } from './format/metadata.js'
import { importedMetadata, importTag, pointDisks } from './import-metadata.js'

const delta = {
  mode: 'delta',
  jobId: 'job-1',
  scheduleId: 'schedule-1',
  timestamp: 1735693323000,
  vm: { uuid: 'vm-uuid', name_label: 'web', other_config: {} },
  vhds: {
    'OpaqueRef:b': 'vdis/j/b.alias.vhd',
    'OpaqueRef:a': 'vdis/j/a.alias.vhd',
    'OpaqueRef:m': 'vdis/j/m.vhd',
  },
  vdis: {
    'OpaqueRef:a': {
      uuid: 'snap-a',
      $snapshot_of$uuid: 'live-a',
      name_label: 'a',
      sharable: 0,
      read_only: 0,
    },
    'OpaqueRef:b': { uuid: 'snap-b', $snapshot_of$uuid: 'live-b', name_label: 'b' },
    'OpaqueRef:m': { uuid: 'memory', name_label: 'suspend' },
  },
  vbds: {
    'OpaqueRef:v1': { VDI: 'OpaqueRef:b', userdevice: '1', bootable: 0 },
    'OpaqueRef:v0': { VDI: 'OpaqueRef:a', userdevice: '0', bootable: 1 },
  },
  vifs: { 'OpaqueRef:i': { device: '0', $network$uuid: 'net-uuid', $network$name_label: 'eth0' } },
  vtpms: ['secret'],
}
const file = 'xo-vm-backups/vm-uuid/20250101T010203Z.json'

describe('importedMetadata', () => {
  it('puts a delta point in the shape of a Strata point: attached disks by userdevice, booleans, networks', () => {
    const meta = parseMetadata(Buffer.from(JSON.stringify(delta)), file)
    const out = importedMetadata(meta, { backup: 'vm-uuid/20250101T010203Z', remote: 'local:/x' }, undefined)
    expect(isPointMetadata(out)).toBe(true)
    // The memory VDI is stored (XO's disk 2) but attached to nothing: the VM is rebuilt without it.
    expect(pointDisks(meta, undefined).map((d) => d.vdi.name_label)).toEqual(['a', 'b', 'suspend'])
    expect(out.disks.map((d) => [d.source, d.snapshot, d.vbd.userdevice])).toEqual([
      ['live-a', 'snap-a', '0'],
      ['live-b', 'snap-b', '1'],
    ])
    expect(out.disks[0]!.vdi).toMatchObject({ sharable: false, read_only: false })
    expect(out.disks[0]!.vbd.bootable).toBe(true)
    expect(out.vifs).toEqual([
      expect.objectContaining({ device: '0', $network: { uuid: 'net-uuid', name_label: 'eth0' } }),
    ])
    expect(out.vtpms).toEqual([{ is_unique: false, contents: 'secret' }])
    expect(out.xo).toEqual({
      backup: 'vm-uuid/20250101T010203Z',
      remote: 'local:/x',
      mode: 'delta',
      jobId: 'job-1',
      timestamp: 1735693323000,
    })
    expect(importTag('vm-uuid/20250101T010203Z')).toBe('xo-backup:vm-uuid/20250101T010203Z')
  })

  it("takes a full point's disks and VM from its ova.xml, the metadata's VM record winning", () => {
    const meta = parseMetadata(
      Buffer.from(
        JSON.stringify({
          mode: 'full',
          jobId: 'j',
          timestamp: 1,
          vm: { name_label: 'files' },
          xva: './x.xva',
        }),
      ),
      file,
    )
    const ova = {
      vm: { name_label: 'from ova', VCPUs_max: 2 },
      disks: [
        { id: 'Ref:1', size: 10, vdi: { uuid: 'd0', name_label: 'files 0' }, vbd: { userdevice: '0' } },
        { id: 'Ref:2', size: 10, vdi: { uuid: 'd1', name_label: 'loose' }, vbd: undefined },
      ],
    }
    const out = importedMetadata(meta, { backup: 'b', remote: 'r' }, ova)
    expect(out.vm).toMatchObject({ name_label: 'files', VCPUs_max: 2 })
    expect(out.disks.map((d) => d.vdi.name_label)).toEqual(['files 0'])
    expect(pointDisks(meta, ova)).toHaveLength(2)
    expect(out.vifs).toEqual([])
  })
})
