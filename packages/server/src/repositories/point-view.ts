// A restore point as the API shows it (docs/api.md), made once per description the core gives.
import type { RestorePointInfo } from '@strata/core/engine'

/** docs/api.md: a restore point as the API shows it. */
export interface PointView {
  readonly id: string
  readonly ref: string
  readonly time: number
  readonly vmUuid: string
  readonly vmName: string
  readonly disks: RestorePointInfo['disks']
  readonly size: number
  /** Stored bytes the point added (chunks no earlier point had). */
  readonly newBytes: number
  readonly kind: RestorePointInfo['kind']
  readonly jobId?: string
  readonly scheduleId?: string
  readonly protected: boolean
  /** Immutable repositories: nobody can delete the point before this time (ms). */
  readonly lockedUntil?: number
}

/** The same description (the core's index gives one per point while it is unchanged) gives the same view. */
const views = new WeakMap<RestorePointInfo, PointView>()

export function view(info: RestorePointInfo): PointView {
  let made = views.get(info)
  if (made === undefined) {
    const { pointId, time, tags: _tags, ...p } = info
    made = { ...p, id: pointId, time: time.getTime() }
    views.set(info, made)
  }
  return made
}
