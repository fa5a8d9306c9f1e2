import { checkRepository, RepositoryError, type CheckResult } from '@strata/core/repository'
import type { Command } from '../command.js'
import { openRepository, repoOption } from './repo-common.js'

export const repoCheck: Command<CheckResult> = {
  path: ['repo', 'check'],
  usage: 'repo check --repo PATH|URL [--repair]',
  summary:
    'Check structure: manifests and indexes parse and agree, every referenced chunk exists, the point index matches the points (--repair: fix or build the point index)',
  positionals: 0,
  options: { ...repoOption, repair: { type: 'boolean' } },
  async run(args, ctx) {
    const repo = await openRepository(args, ctx.signal)
    const repairIndex = args.values.repair === true
    const result = await checkRepository(repo, { signal: ctx.signal, repairIndex })
    for (const p of result.pointIndex.fixed ?? []) ctx.stderr.write(`repaired: ${p.object}: ${p.problem}\n`)
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
  format: (r) =>
    [
      `ok: ${r.points} restore points, ${r.indexes} disk indexes, ${r.chunks} chunks`,
      r.pointIndex.built
        ? `point index built (${r.points} entries)`
        : r.pointIndex.ready
          ? `point index: ${r.pointIndex.entries} entries found${r.pointIndex.repaired > 0 ? `, ${r.pointIndex.repaired} problems repaired` : ''}`
          : 'no point index yet (listings read every point directory): `strata repo check --repair` builds it',
    ].join('\n'),
}
