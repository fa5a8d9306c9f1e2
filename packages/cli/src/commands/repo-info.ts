import { listPoints, type RepositoryConfig } from '@strata/core/repository'
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
    const keySlots = repo.encrypted ? (await repo.listKeySlots(signal)).length : 0
    return {
      repository: repo.name,
      config: repo.config,
      keySlots,
      points: points.length,
      vms: new Set(points.map((p) => p.vm)).size,
      chunks,
      chunkBytes,
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
    ].join('\n'),
}
