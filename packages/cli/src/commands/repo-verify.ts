import {
  RepositoryError,
  verifyChunks,
  type VerifyProgress,
  type VerifyResult,
} from '@strata/core/repository'
import { UsageError, type Command } from '../command.js'
import { formatBytes, openRepository, repoOption } from './repo-common.js'

export const repoVerify: Command<VerifyResult> = {
  path: ['repo', 'verify'],
  usage: 'repo verify --repo PATH|URL [--sample FRACTION] [--dry-run]',
  summary:
    'Read and authenticate every chunk (or a sample); bad chunks are quarantined so the next backup stores them again',
  positionals: 0,
  options: { ...repoOption, sample: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  async run(args, ctx) {
    const sample = args.values.sample === undefined ? 1 : Number(args.values.sample)
    if (!(sample > 0 && sample <= 1)) throw new UsageError('--sample: a fraction in (0, 1]')
    const repo = await openRepository(args, ctx.signal)
    const result = await verifyChunks(repo, {
      sample,
      dryRun: args.values['dry-run'] === true,
      signal: ctx.signal,
      onProgress: (p) => ctx.stderr.write(`${progressLine(p)}\n`),
      progressMs: 5000,
    })
    if (result.bad.length > 0) {
      for (const b of result.bad) ctx.stderr.write(`${b.reason}\n`)
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `verify found ${result.bad.length} bad chunks (moved to quarantine/ until \`repo gc --purge-quarantine\`; the next backup that reads them stores them again)`,
        { details: { ...result } },
      )
    }
    if (result.cold !== undefined && result.cold.bad.length > 0) {
      for (const b of result.cold.bad) ctx.stderr.write(`${b.reason}\n`)
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `verify found ${result.cold.bad.length} bad chunks in the cold tier (marked bad: the next backup that reads them stores them hot again)`,
        { details: { ...result } },
      )
    }
    return result
  },
  format: (r) =>
    `ok: ${r.checked} of ${r.chunks} chunks read and authenticated (${formatBytes(r.bytes)})` +
    (r.cold === undefined
      ? ''
      : `; cold tier: ${r.cold.checked} of ${r.cold.chunks} (${formatBytes(r.cold.bytes)})`),
}

/** 'verify: 42 % (1200 chunks listed, 1200 read, 2.3 GiB), about 3 min left' */
function progressLine(p: VerifyProgress): string {
  const eta =
    p.etaSeconds === undefined
      ? ''
      : p.etaSeconds < 90
        ? `, about ${Math.ceil(p.etaSeconds)} s left`
        : `, about ${Math.ceil(p.etaSeconds / 60)} min left`
  return `verify: ${Math.floor(p.fraction * 100)} % (${p.listed} chunks listed, ${p.checked} read, ${formatBytes(p.bytes)})${eta}`
}
