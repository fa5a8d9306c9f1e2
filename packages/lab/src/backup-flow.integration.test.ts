// The incremental backup flow a Strata job will run, end to end on the lab with the client and
// Strata's NBD client: CBT snapshot, full read over NBD, guest changes, a second snapshot, changed
// blocks from CBT, only those read over NBD and applied to the previous copy, cleanup to a
// cbt_metadata base, and a third run from that base.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NbdConnection } from '@strata/core/nbd'
import {
  XapiClient,
  dataDestroy,
  destroyVm,
  enableCbt,
  getNbdInfo,
  listChangedBlocks,
  snapshotVm,
  type Ref,
} from '@strata/core/xapi'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

const MiB = 1024 * 1024
const CHUNK = 2 * MiB

describe('incremental backup flow with CBT and NBD', () => {
  let lab: LabPool
  let client: XapiClient

  beforeAll(async () => {
    requireBinary('openssl')
    requireBinary('mke2fs')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 100,
      vms: [{ name: 'app', power: 'Running', disks: [24] }],
    })
    client = new XapiClient(lab.connection)
  })
  afterAll(async () => {
    await client?.close()
    await lab?.close()
  })

  /** Snapshot the VM and return the snapshot VM and its disk VDI. */
  const snapshot = async (vm: Ref, name: string): Promise<{ snap: Ref; vdi: Ref }> => {
    const snap = await snapshotVm(client, vm, name)
    for (const vbd of await client.call<Ref[]>('VM.get_VBDs', [snap])) {
      if ((await client.call('VBD.get_type', [vbd])) === 'Disk')
        return { snap, vdi: await client.call<Ref>('VBD.get_VDI', [vbd]) }
    }
    throw new Error('snapshot without disk')
  }

  /** Reads the given 2 MiB chunks of a VDI over NBD into `image`. */
  const readChunks = async (vdi: Ref, chunks: number[], image: Buffer): Promise<void> => {
    const [info] = await getNbdInfo(client, vdi)
    const nbd = await NbdConnection.connect({
      host: info!.address,
      port: info!.port,
      exportName: info!.exportname,
      tls: { pinnedCertificate: info!.cert, servername: info!.subject },
    })
    try {
      await Promise.all(
        chunks.map(async (i) => {
          const length = Math.min(CHUNK, nbd.size - i * CHUNK)
          ;(await nbd.read(i * CHUNK, length)).copy(image, i * CHUNK)
        }),
      )
    } finally {
      await nbd.close()
    }
  }

  it('keeps a copy equal to each snapshot while reading only changed chunks', async () => {
    const vm = lab.ref('VM', 'app')
    const [live] = lab.guest.disks(vm)
    await enableCbt(client, live!)
    const first = await snapshot(vm, 'backup-1')
    const image = Buffer.alloc(24 * MiB)
    await readChunks(
      first.vdi,
      Array.from({ length: 12 }, (_, i) => i),
      image,
    )
    expect(image.equals(await lab.readDisk(first.vdi))).toBe(true)
    await destroyVm(client, first.snap, { keepDisks: true })
    await dataDestroy(client, first.vdi)

    let base = first.vdi
    for (const run of [2, 3]) {
      await lab.guest.writeFile(live!, `/srv/run-${run}.txt`, `changed before run ${run}\n`)
      await lab.guest.writeRandomBlocks(live!, 3)
      const next = await snapshot(vm, `backup-${run}`)
      const changed = (await listChangedBlocks(client, base, next.vdi)).changedBlocks(CHUNK)
      expect(changed.length).toBeGreaterThan(0)
      expect(changed.length).toBeLessThan(12)
      await readChunks(next.vdi, changed, image)
      expect(image.equals(await lab.readDisk(next.vdi))).toBe(true)
      await destroyVm(client, next.snap, { keepDisks: true })
      await dataDestroy(client, next.vdi)
      expect(await client.call('VDI.get_type', [next.vdi])).toBe('cbt_metadata')
      base = next.vdi
    }
  })
})
