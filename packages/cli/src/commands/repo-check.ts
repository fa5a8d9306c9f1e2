import { checkRepository, RepositoryError, type CheckResult } from '@strata/core/repository'
import type { Command } from '../command.js'
import { openRepository, repoOption } from './repo-common.js'

export const repoCheck: Command<CheckResult> = {
  path: ['repo', 'check'],
  usage: 'repo check --repo PATH|URL',
  summary: 'Check structure: manifests and indexes parse and agree, every referenced chunk exists',
  positionals: 0,
  options: repoOption,
  async run(args, ctx) {
    const result = await checkRepository(await openRepository(args, ctx.signal), { signal: ctx.signal })
    if (!result.ok) {
      for (const p of result.problems) ctx.stderr.write(`${p.object}: ${p.problem}\n`)
      const first = result.problems[0]!
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `check found ${result.problems.length} problems; first: ${first.object}: ${first.problem}`,
        {
          details: { ...result },
        },
      )
    }
    return result
  },
  format: (r) => `ok: ${r.points} restore points, ${r.indexes} disk indexes, ${r.chunks} chunks`,
}
