// A delta chain as long as a test wants (XO's own file restore gives up long before 120): a key
// VhdDirectory and `deltas` children, each changing one block with bytes of its own.
import { DiskImage } from './disk-images.js'
import {
  fileDate,
  type LineageVhd,
  type RemoteSink,
  XoRemoteBuilder,
  type BuilderOptions,
} from './remote-builder.js'

export const LONG_VM = '7c4a0000-0000-4000-8000-000000000120'

export async function buildLongChain(
  sink: RemoteSink,
  deltas: number,
  options: BuilderOptions = {},
): Promise<{ ids: string[]; images: Buffer[] }> {
  const builder = await XoRemoteBuilder.create(sink, options)
  const lineage = {
    jobId: 'f00dcafe-0000-4000-8000-000000000120',
    vdiUuid: '55555555-0000-4000-8000-000000000000',
  }
  const disk = new DiskImage(16 * 1024 * 1024, 'pattern')
  const ids: string[] = []
  const images: Buffer[] = []
  let parent: LineageVhd | undefined
  for (let n = 0; n <= deltas; n++) {
    const timestamp = Date.UTC(2024, 0, 1) + n * 86_400_000
    const blocks = disk.write(n === 0 ? [0, 1, 2, 3, 4, 5, 6, 7] : [n % 8], `long-${n}`)
    const filters = n % 2 === 0 ? (['gzip'] as const) : (['brotli'] as const)
    parent = await builder.addVhd(
      LONG_VM,
      lineage,
      fileDate(timestamp),
      disk,
      blocks,
      { kind: 'directory', filters: [...filters] },
      parent,
    )
    ids.push(
      await builder.deltaBackup(LONG_VM, timestamp, {
        jobId: lineage.jobId,
        vmRecord: { name_label: 'long' },
        disks: [{ vdiUuid: lineage.vdiUuid, vhd: parent, name: 'long 0', size: disk.size }],
      }),
    )
    images.push(disk.copy())
  }
  return { ids, images }
}
