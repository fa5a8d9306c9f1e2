import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { DiskReader, formatPointRef, resolvePoint } from '@strata/core/repository'
import type { Command } from '../command.js'
import { formatBytes, openRepository, parseCount, repoOption } from './repo-common.js'

interface RestoreResult {
  point: string
  out: string
  size: number
  chunksWritten: number
  seconds: number
}

export const repoRestoreImage: Command<RestoreResult> = {
  path: ['repo', 'restore-image'],
  usage: 'repo restore-image ID OUT --repo PATH|URL [--disk N] [--no-sync]',
  summary: 'Write a restore point disk back to a raw image: sparse, atomically (temporary file, then rename)',
  positionals: 2,
  options: {
    ...repoOption,
    disk: { type: 'string' },
    concurrency: { type: 'string' },
    'no-sync': { type: 'boolean' },
  },
  async run(args, { signal }) {
    const started = performance.now()
    const [id, out] = args.positionals as [string, string]
    const repo = await openRepository(args, signal)
    const ref = await resolvePoint(repo, id, signal)
    const reader = await DiskReader.open(repo, ref, parseCount(args.values.disk, '--disk') ?? 0, signal)
    const temp = `${out}.strata-${randomBytes(4).toString('hex')}.tmp`
    const handle = await open(temp, 'wx')
    let written = 0
    try {
      // Holes stay holes: only non-zero chunks are written, the size is set by truncate.
      await handle.truncate(reader.size)
      const chunks = reader.nonZeroChunks()
      const worker = async (): Promise<void> => {
        for (let step = chunks.next(); !step.done; step = chunks.next()) {
          const data = await reader.readChunk(step.value, signal)
          await handle.write(data, 0, data.length, step.value * reader.chunkSize)
          written++
        }
      }
      await Promise.all(
        Array.from({ length: parseCount(args.values.concurrency, '--concurrency') ?? 8 }, worker),
      )
      // Durable before it takes OUT's name; --no-sync leaves that to the page cache (faster, not crash-safe).
      if (args.values['no-sync'] !== true) await handle.sync()
      await handle.close()
      await rename(temp, out)
    } catch (error) {
      await handle.close().catch(() => undefined)
      await rm(temp, { force: true })
      throw error
    }
    return {
      point: formatPointRef(ref),
      out,
      size: reader.size,
      chunksWritten: written,
      seconds: (performance.now() - started) / 1000,
    }
  },
  format: (r) =>
    `${r.out}: ${formatBytes(r.size)} from ${r.point}, ${r.chunksWritten} chunks written in ${r.seconds.toFixed(1)} s`,
}
