// A real local repository holding one restore point of random (incompressible, non-zero) data, for tests
// that read repositories through the server without a pool.
import { randomBytes } from 'node:crypto'
import { PointWriter, Repository, type CommittedPoint } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'

export async function repositoryWithPoint(
  path: string,
  o: { vm: string; diskBytes: number },
): Promise<CommittedPoint> {
  const repo = await Repository.create(new LocalStore(path))
  const point = await PointWriter.begin(repo, { vm: o.vm, metadata: { vm: { name_label: o.vm } } })
  try {
    const disk = point.openDisk('xvda', o.diskBytes)
    for (let i = 0; i < disk.chunkCount; i++) await disk.putChunk(i, randomBytes(disk.chunkLength(i)))
    return await point.commit()
  } catch (error) {
    await point.abort()
    throw error
  }
}
