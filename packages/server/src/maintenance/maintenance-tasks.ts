// Each maintenance task's body is the engine's (runMaintenance, shared with agents); the server gives it
// the repository's schedule.
import type { MaintenanceSchedule, MaintenanceTask } from '@strata/contract'
import { runMaintenance, type MaintenanceSettings } from '@strata/core/engine'
import type { Repository } from '@strata/core/repository'
import type { TaskContext } from '@strata/core'

export function maintenanceSettings(schedule: MaintenanceSchedule): MaintenanceSettings {
  const margin = schedule.gc.safetyMarginMinutes
  return {
    verifySample: schedule.verify.sample,
    ...(margin === undefined ? {} : { gcSafetyMarginMs: margin * 60_000 }),
  }
}

export function runMaintenanceTask(
  task: TaskContext,
  repo: Repository,
  kind: MaintenanceTask,
  schedule: MaintenanceSchedule,
): Promise<void> {
  return runMaintenance(task, repo, kind, maintenanceSettings(schedule))
}
