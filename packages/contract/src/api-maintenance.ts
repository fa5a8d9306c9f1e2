// A repository's maintenance, run by the server: gc, check and a sampled verify, each every so many
// hours (0: never), as runs of kind 'maintenance' beside backup runs.
import { Type, type Static } from '@sinclair/typebox'
import { Strict } from './schema-helpers.js'

const Hours = Type.Number({ minimum: 0, maximum: 24 * 366, description: 'Hours between runs; 0: never.' })

export const MaintenanceSchedule = Strict({
  gc: Strict({
    everyHours: Hours,
    safetyMarginMinutes: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 7 * 24 * 60,
        description: 'Unreferenced chunks younger than this are kept (default 60).',
      }),
    ),
  }),
  check: Strict({ everyHours: Hours }),
  verify: Strict({
    everyHours: Hours,
    sample: Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Fraction of chunks read.' }),
  }),
})
export type MaintenanceSchedule = Static<typeof MaintenanceSchedule>

export const DEFAULT_MAINTENANCE: MaintenanceSchedule = {
  gc: { everyHours: 24 },
  check: { everyHours: 24 * 7 },
  verify: { everyHours: 24 * 7, sample: 0.05 },
}

export const MaintenanceTask = Type.Union([Type.Literal('gc'), Type.Literal('check'), Type.Literal('verify')])
export type MaintenanceTask = Static<typeof MaintenanceTask>

export const MaintenanceTaskParams = Strict({ id: Type.String(), task: MaintenanceTask })
