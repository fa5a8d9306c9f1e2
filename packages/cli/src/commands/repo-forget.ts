import {
  deletePoint,
  formatPointRef,
  listPoints,
  lockedUntil,
  manifestKey,
  readManifest,
  refuseIfProtected,
  resolvePoint,
  type PointRef,
} from '@strata/core/repository'
import { resolvePointVm } from '@strata/core/engine'
import { applyRetention, isEmptyPolicy, type RetentionPolicy } from '@strata/core/retention'
import { UsageError, type Command } from '../command.js'
import { openRepository, parseCount, repoOption } from './repo-common.js'

interface ForgetResult {
  dryRun: boolean
  kept: { ref: string; reasons: readonly string[] }[]
  removed: string[]
}

export const repoForget: Command<ForgetResult> = {
  path: ['repo', 'forget'],
  usage:
    'repo forget [ID...] --repo PATH|URL [--vm NAME_OR_UUID] [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--tz ZONE] [--dry-run]',
  summary:
    'Delete named restore points, or apply a retention policy per VM and schedule (chunks go at the next gc; protected points are kept)',
  positionals: [0, Infinity],
  options: {
    ...repoOption,
    vm: { type: 'string' },
    'keep-last': { type: 'string' },
    'keep-daily': { type: 'string' },
    'keep-weekly': { type: 'string' },
    'keep-monthly': { type: 'string' },
    'keep-yearly': { type: 'string' },
    tz: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  async run(args, { signal }) {
    const { values, positionals } = args
    const policy: RetentionPolicy = {
      keepLast: parseCount(values['keep-last'], '--keep-last'),
      daily: parseCount(values['keep-daily'], '--keep-daily'),
      weekly: parseCount(values['keep-weekly'], '--keep-weekly'),
      monthly: parseCount(values['keep-monthly'], '--keep-monthly'),
      yearly: parseCount(values['keep-yearly'], '--keep-yearly'),
    }
    const byPolicy = !isEmptyPolicy(policy)
    if (byPolicy === positionals.length > 0)
      throw new UsageError('give either restore point IDs or --keep-* rules')
    const dryRun = values['dry-run'] === true
    const repo = await openRepository(args, signal)
    const kept: ForgetResult['kept'] = []
    const doomed: (PointRef & { ref?: string })[] = []
    if (!byPolicy) {
      for (const id of positionals) doomed.push(await resolvePoint(repo, id, signal))
      // All or nothing: a protected point among them is refused before anything is deleted.
      for (const ref of doomed) await refuseIfProtected(repo, ref, signal)
    } else {
      const vm = typeof values.vm === 'string' ? await resolvePointVm(repo, values.vm, signal) : undefined
      const points = await listPoints(repo, vm, signal)
      const byVm = new Map<string, typeof points>()
      for (const p of points) byVm.set(p.vm, [...(byVm.get(p.vm) ?? []), p])
      for (const all of byVm.values()) {
        // Protected points are outside the policy: neither counted nor removed.
        const vmPoints = all.filter((p) => !p.protected)
        kept.push(...all.filter((p) => p.protected).map((p) => ({ ref: p.ref, reasons: ['protected'] })))
        // The schedule lives in the manifest: retention is rare enough to read them.
        const items = await Promise.all(
          vmPoints.map(async (p) => ({
            id: p.ref,
            time: p.time,
            scheduleId: (await readManifest(repo, p, signal)).scheduleId,
            p,
          })),
        )
        const decision = applyRetention(items, policy, (values.tz as string | undefined) ?? 'UTC')
        kept.push(...decision.keep.map((k) => ({ ref: k.id, reasons: k.reasons })))
        const remove = new Set(decision.remove)
        for (const item of items.filter((i) => remove.has(i.id))) {
          // Object Lock: a point retention would remove before its date stays, with a note.
          const until = await lockedUntil(repo.store, manifestKey(item.p), signal)
          if (until === undefined) doomed.push(item.p)
          else kept.push({ ref: item.id, reasons: [`locked until ${until.toISOString()}`] })
        }
      }
    }
    if (!dryRun) for (const ref of doomed) await deletePoint(repo, ref, signal)
    return {
      dryRun,
      kept,
      removed: doomed.map((r) => r.ref ?? formatPointRef(r)),
    }
  },
  format: (r) =>
    [
      ...r.kept.map((k) =>
        k.reasons.includes('protected')
          ? `kept: protected  ${k.ref}`
          : `keep    ${k.ref}  (${k.reasons.join(', ')})`,
      ),
      ...r.removed.map((id) => `${r.dryRun ? 'would remove' : 'removed'} ${id}`),
    ].join('\n') || 'nothing to do',
}
