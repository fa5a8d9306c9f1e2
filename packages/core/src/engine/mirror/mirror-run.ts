// A mirror run: the restore points of one repository (all VMs, or the selected ones) copied into
// another, oldest first, each over the previous copy of its VM, then the target's retention applied.
// Retention is decided over the union of both sides' points, so that a point the target's policy
// drops is neither copied nor copied again on the next run.
import { randomBytes } from 'node:crypto'
import { deletePoint, listPoints, type PointSummary, type Repository } from '../../repository/index.js'
import { applyRetention, isEmptyPolicy, type RetentionPolicy } from '../../retention/index.js'
import type { TaskContext } from '../../shared/index.js'
import { resolvePointVm } from '../restore-points.js'
import { MirrorError } from './mirror-error.js'
import { mirrorPoint, type PointCopyStats } from './mirror-point.js'

export interface MirrorOptions {
  /** VM uuids or names (as the source's points know them); none: every VM. */
  readonly vms?: readonly string[]
  /** Retention on the target, per VM. None: every point is kept. */
  readonly policy?: RetentionPolicy
  readonly timeZone?: string
  /** Chunks read and stored at once per disk. */
  readonly concurrency?: number
}

export interface MirrorResult {
  readonly copied: readonly PointCopyStats[]
  /** Source points the target held already. */
  readonly alreadyThere: number
  /** Target points removed by its retention ('<vm>/<point id>'). */
  readonly removed: readonly string[]
  readonly copiedChunks: number
  readonly skippedChunks: number
  readonly copiedBytes: number
}

export async function mirrorRepository(
  task: TaskContext,
  from: Repository,
  to: Repository,
  options: MirrorOptions = {},
): Promise<MirrorResult> {
  const { signal } = task
  await checkPair(from, to)
  const sameIds = await namesChunksAlike(from, to)
  const vms = await selectedVms(from, options.vms, signal)
  const copied: PointCopyStats[] = []
  const removed: string[] = []
  let alreadyThere = 0
  for (const vm of vms) {
    const plan = await planVm(from, to, vm, options, signal)
    alreadyThere += plan.alreadyThere
    const held = plan.held
    for (const point of plan.copy) {
      const targetBase = newestBefore(held, point)
      const sourceBase = targetBase && plan.onSource.has(targetBase.pointId) ? targetBase : undefined
      const stats = await task.child(
        `point ${point.ref}`,
        async (child) => {
          const s = await mirrorPoint(child, from, to, {
            ref: point,
            sourceBase,
            targetBase,
            sameIds,
            concurrency: options.concurrency,
          })
          child.set({ copiedChunks: s.copied, skippedChunks: s.skipped, copiedBytes: s.copiedBytes })
          return s
        },
        { vm, point: point.ref },
      )
      copied.push(stats)
      held.push(point)
    }
    for (const point of plan.remove) {
      await deletePoint(to, point, signal)
      removed.push(point.ref)
    }
  }
  const result = {
    copied,
    alreadyThere,
    removed,
    copiedChunks: copied.reduce((n, s) => n + s.copied, 0),
    skippedChunks: copied.reduce((n, s) => n + s.skipped, 0),
    copiedBytes: copied.reduce((n, s) => n + s.copiedBytes, 0),
  }
  task.set({
    copiedPoints: copied.length,
    alreadyThere,
    removedPoints: removed.length,
    copiedChunks: result.copiedChunks,
    skippedChunks: result.skippedChunks,
    copiedBytes: result.copiedBytes,
  })
  return result
}

interface VmPlan {
  /** Source points to copy, oldest first. */
  readonly copy: PointSummary[]
  /** Target points to delete (retention). */
  readonly remove: PointSummary[]
  /** Target points kept, which copies may start from. */
  readonly held: PointSummary[]
  readonly onSource: ReadonlySet<string>
  readonly alreadyThere: number
}

async function planVm(
  from: Repository,
  to: Repository,
  vm: string,
  options: MirrorOptions,
  signal: AbortSignal,
): Promise<VmPlan> {
  const source = await listPoints(from, vm, signal)
  const target = await listPoints(to, vm, signal)
  const onTarget = new Set(target.map((p) => p.pointId))
  const onSource = new Set(source.map((p) => p.pointId))
  const union = [...target, ...source.filter((p) => !onTarget.has(p.pointId))]
  const keep =
    options.policy === undefined || isEmptyPolicy(options.policy)
      ? new Set(union.map((p) => p.pointId))
      : new Set(
          applyRetention(
            union.map((p) => ({ id: p.pointId, time: p.time })),
            options.policy,
            options.timeZone,
          ).keep.map((k) => k.id),
        )
  return {
    copy: source.filter((p) => !onTarget.has(p.pointId) && keep.has(p.pointId)),
    remove: target.filter((p) => !keep.has(p.pointId)),
    held: target.filter((p) => keep.has(p.pointId)),
    onSource,
    alreadyThere: source.filter((p) => onTarget.has(p.pointId)).length,
  }
}

function newestBefore(points: readonly PointSummary[], point: PointSummary): PointSummary | undefined {
  let best: PointSummary | undefined
  for (const p of points) {
    if (p.pointId < point.pointId && (best === undefined || p.pointId > best.pointId)) best = p
  }
  return best
}

async function checkPair(from: Repository, to: Repository): Promise<void> {
  if (from.config.id === to.config.id) {
    throw new MirrorError(
      'MIRROR_SAME_REPOSITORY',
      `'${from.name}' and '${to.name}' are the same repository (id ${from.config.id})`,
    )
  }
  if (from.chunkSize !== to.chunkSize) {
    throw new MirrorError(
      'CHUNK_SIZE_MISMATCH',
      `repository '${from.name}' has chunks of ${from.chunkSize} bytes, '${to.name}' of ${to.chunkSize}: a mirror needs one chunk size`,
    )
  }
}

/** Whether both repositories give one content the same id (both plain, or one id key). */
async function namesChunksAlike(from: Repository, to: Repository): Promise<boolean> {
  const probe = randomBytes(64)
  return (await from.chunkIdOf(probe)).equals(await to.chunkIdOf(probe))
}

async function selectedVms(
  from: Repository,
  vms: readonly string[] | undefined,
  signal: AbortSignal,
): Promise<string[]> {
  if (vms !== undefined && vms.length > 0) {
    const out: string[] = []
    for (const vm of vms) out.push(await resolvePointVm(from, vm, signal))
    return [...new Set(out)]
  }
  return [...new Set((await listPoints(from, undefined, signal)).map((p) => p.vm))]
}
