// Reading a restore point's manifest, and the summary every listing gives of a point. Apart from
// points.ts so that the point index (which confirms entries by reading manifests) and the listings
// that use the index do not import each other.
import { isNotFound } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { KIND_MANIFEST } from './format/constants.js'
import { decodeManifest, type Manifest } from './format/manifest.js'
import { formatPointRef, manifestKey, type PointRef } from './format/layout.js'

export interface PointSummary extends PointRef {
  /** '<vm segment>/<point id>', what users type. */
  readonly ref: string
  readonly time: Date
  /** Kept by retention, refused to deletes (a `protected` marker beside the manifest). */
  readonly protected: boolean
}

export async function readManifest(repo: Repository, ref: PointRef, signal?: AbortSignal): Promise<Manifest> {
  const key = manifestKey(ref)
  const what = `manifest of restore point '${formatPointRef(ref)}' in repository '${repo.name}'`
  let bytes: Uint8Array
  try {
    bytes = await repo.store.get(key, { signal })
  } catch (error) {
    if (isNotFound(error)) throw new RepositoryError('POINT_NOT_FOUND', `${what} does not exist`)
    throw error
  }
  const manifest = decodeManifest(
    repo.decode(bytes, KIND_MANIFEST, new TextEncoder().encode(key), what),
    what,
  )
  if (manifest.pointId !== ref.pointId || manifest.vm.id !== ref.vm) {
    throw new RepositoryError('CORRUPT_OBJECT', `${what} names another point`)
  }
  return manifest
}
