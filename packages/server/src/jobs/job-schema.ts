// JSON Schemas of a job's parts (the route layer checks shapes; parseJob checks meaning).
import { obj, str } from '../routes/schemas.js'

const strings = { type: 'array', items: str({ maxLength: 200 }), maxItems: 1000 } as const
const count = { type: 'integer', minimum: 0 } as const
const id = str({ maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })

export const smartSchema = obj(
  {
    pools: { ...strings, default: [] },
    tags: { ...strings, default: [] },
    powerState: { type: 'string', enum: ['Running', 'Halted'] },
    excludeTags: { ...strings, default: [] },
    excludeUuids: { ...strings, default: [] },
  },
  [],
)

export const vmsSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: { uuids: { ...strings, minItems: 1 }, smart: smartSchema },
} as const

export const settingsSchema = obj({
  fullInterval: count,
  vmConcurrency: count,
  retries: count,
  timeout: { anyOf: [count, str({ maxLength: 20 })] },
  preferNbd: { type: 'boolean' },
  nbdConnections: { type: 'integer', minimum: 1, maximum: 16 },
  maxBytesPerSecond: count,
  offline: { type: 'boolean' },
  withMemory: { type: 'boolean' },
  changedBlocks: { type: 'string', enum: ['auto', 'cbt', 'vhd-bat', 'vhd-stream', 'full'] },
})

export const scheduleSchema = obj(
  {
    id,
    name: str({ maxLength: 100 }),
    cron: str({ maxLength: 100 }),
    timezone: str({ maxLength: 100 }),
    enabled: { type: 'boolean' },
    retention: obj({ keep: count, daily: count, weekly: count, monthly: count, yearly: count }),
    forceFull: { type: 'boolean' },
  },
  ['cron'],
)

const jobProperties = {
  name: str({ maxLength: 200 }),
  enabled: { type: 'boolean' },
  mode: { type: 'string', enum: ['delta', 'full'] },
  vms: vmsSchema,
  repositories: { type: 'array', items: str({ maxLength: 100 }), minItems: 1, maxItems: 20 },
  settings: settingsSchema,
  schedules: { type: 'array', items: scheduleSchema, maxItems: 50 },
}

export const jobCreateSchema = obj(jobProperties, ['name', 'vms', 'repositories'])
export const jobPatchSchema = obj(jobProperties)
