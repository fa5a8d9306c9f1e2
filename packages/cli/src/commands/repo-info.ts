import {
  listPoints,
  manifestKey,
  lockedSummary,
  type LockedSummary,
  type RepositoryConfig,
} from '@strata/core/repository'
import type { StoreCapabilities } from '@strata/core/storage'
import type { Command } from '../command.js'
import { formatBytes, openRepository, repoOption } from './repo-common.js'

interface InfoResult {
  repository: string
  config: RepositoryConfig
  keySlots: number
  points: number
  vms: number
  chunks: number
  chunkBytes: number
  /** How the store creates objects once, and what its probe found of a local file system. */
  store: StoreCapabilities
  /** Immutable repositories: what Object Lock retains now. */
  locked?: LockedSummary
}

export const repoInfo: Command<InfoResult> = {
  path: ['repo', 'info'],
  usage: 'repo info --repo PATH|URL',
  summary: 'Show a repository: format, encryption, restore points, chunks and their size',
  positionals: 0,
  options: repoOption,
  async run(args, { signal }) {
    const repo = await openRepository(args, signal)
    const points = await listPoints(repo, undefined, signal)
    let chunks = 0
    let chunkBytes = 0
    for await (const info of repo.store.list('chunks/', { signal })) {
      chunks++
      chunkBytes += info.size
    }
    const manifests = points.map((p) => manifestKey(p))
    const locked = repo.config.immutable && (await lockedSummary(repo.store, manifests, signal))
    const keySlots = repo.encrypted ? (await repo.listKeySlots(signal)).length : 0
    return {
      repository: repo.name,
      config: repo.config,
      keySlots,
      points: points.length,
      vms: new Set(points.map((p) => p.vm)).size,
      chunks,
      chunkBytes,
      store: repo.store.capabilities,
      ...(locked && { locked }),
    }
  },
  format: (r) =>
    [
      `repository ${r.config.id} in ${r.repository}`,
      `  created      ${r.config.created}`,
      `  chunk size   ${formatBytes(r.config.chunkSize)}, zstd level ${r.config.compressionLevel}`,
      `  encryption   ${r.config.encryption}${r.keySlots > 0 ? ` (${r.keySlots} key slots)` : ''}`,
      `  points       ${r.points} of ${r.vms} VMs`,
      `  chunks       ${r.chunks}, ${formatBytes(r.chunkBytes)} stored`,
      `  store        ${describeStore(r.store)}`,
      ...(r.config.immutable && r.locked
        ? [
            `  immutable    ${r.config.immutable.seconds / 86_400}d, ${immutableHow(r.repository, r.config.immutable.mode)}`,
            `  locked       ${r.locked.points} points, ${r.locked.chunks} chunks, ${formatBytes(r.locked.bytes)}`,
          ]
        : []),
    ].join('\n'),
}

/** A local directory's lock is the file system's attribute: S3's lock modes do not apply there. */
function immutableHow(repository: string, mode: string): string {
  return repository.startsWith('local:') ? '(immutable attribute, chattr +i)' : `${mode} (S3 Object Lock)`
}

/** 'create-once by hard link; ext4, times to 1 µs' and the like. */
export function describeStore(store: StoreCapabilities): string {
  const mode =
    store.createMode === 'link'
      ? 'create-once by hard link'
      : store.createMode === 'exclusive'
        ? 'create-once by O_EXCL claim (no hard links)'
        : store.conditionalCreate
          ? 'create-once by the server (conditional put)'
          : 'create-once NOT atomic (checked, then written)'
  const fs = store.fileSystem
  if (fs === undefined) return mode
  const parts = [`${fs.type}${fs.remote ? ', remote' : ''}`]
  if (!fs.caseSensitive) parts.push('case-insensitive')
  if (fs.timestampResolutionMs !== undefined)
    parts.push(`times to ${formatDuration(fs.timestampResolutionMs)}`)
  if (fs.clockSkewMs)
    parts.push(
      `server clock ${formatDuration(Math.abs(fs.clockSkewMs))} ${fs.clockSkewMs > 0 ? 'ahead' : 'behind'}`,
    )
  return `${mode}; ${parts.join(', ')}`
}

function formatDuration(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)} µs`
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`
}
