// `strata repo protect|unprotect --repo R --point ID`: a protected restore point is left out of
// retention (`repo forget --keep-*`, a job's schedule) and refused to deletes until it is unprotected.
// The point is named as everywhere else: its id, '<vm>/<point id>' (uuid or name), or 'latest' with --vm.
import { findRestorePoint } from '@strata/core/engine'
import { formatPointRef, protectPoint, unprotectPoint } from '@strata/core/repository'
import { UsageError, type Command, type ParsedArgs } from '../command.js'
import { str } from './backup-common.js'
import { openRepository, repoOption } from './repo-common.js'

interface ProtectResult {
  readonly point: string
  readonly protected: boolean
}

const options = { ...repoOption, point: { type: 'string' }, vm: { type: 'string' } } as const

function protection(verb: 'protect' | 'unprotect'): Command<ProtectResult> {
  const on = verb === 'protect'
  return {
    path: ['repo', verb],
    usage: `repo ${verb} --repo PATH|URL --point ID [--vm NAME_OR_UUID]`,
    summary: on
      ? 'Protect a restore point: retention keeps it and deletes are refused until it is unprotected'
      : 'Lift the protection of a restore point (retention and forget may then remove it)',
    positionals: 0,
    options,
    async run(args: ParsedArgs, { signal }) {
      const wanted = str(args.values.point)
      if (wanted === undefined) throw new UsageError(`--point ID is required (see strata repo snapshots)`)
      const repo = await openRepository(args, signal)
      const ref = await findRestorePoint(repo, wanted, str(args.values.vm), signal)
      await (on ? protectPoint(repo, ref, signal) : unprotectPoint(repo, ref, signal))
      return { point: formatPointRef(ref), protected: on }
    },
    format: (r) => `${r.protected ? 'protected' : 'unprotected'} ${r.point}`,
  }
}

export const repoProtect = protection('protect')
export const repoUnprotect = protection('unprotect')
