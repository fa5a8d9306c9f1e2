// A repository's usage over time (GET /api/repositories/:id/usage-history, docs/api.md): the samples the
// server takes (after runs and every hour; every one for a week, then one a day for a year), each with
// the ratios an admin compares, and the outcome of the repository's last gc, check and verify.
import { Type, type Static } from '@sinclair/typebox'
import { TaskError, TaskStatus } from './api-runs.js'
import { Strict } from './schema-helpers.js'

export const UsageHistoryQuery = Strict({
  days: Type.Optional(
    Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: 'How many days back (1 to 366; default 90).' }),
  ),
})
export type UsageHistoryQuery = Static<typeof UsageHistoryQuery>

const Ratio = (description: string) =>
  Type.Union([Type.Number(), Type.Null()], {
    description: `${description} null when a side is 0 or unknown.`,
  })

export const UsageHistorySample = Type.Object({
  time: Type.Number(),
  storedBytes: Type.Number({ description: 'The chunks as stored (compressed, deduplicated).' }),
  logicalBytes: Type.Number({ description: "The restore points' disks, added up." }),
  uniqueBytes: Type.Union([Type.Number(), Type.Null()], {
    description:
      'The distinct chunks before compression: chunks × chunk size (a disk’s shorter last chunk counts whole); null while the chunk size is unknown.',
  }),
  chunks: Type.Number(),
  points: Type.Number(),
  dedupRatio: Ratio('logicalBytes / uniqueBytes (zero blocks, which are not stored, count as saved).'),
  compressionRatio: Ratio('uniqueBytes / storedBytes.'),
})
export type UsageHistorySample = Static<typeof UsageHistorySample>

export const LastMaintenance = Type.Object({
  runId: Type.String(),
  status: TaskStatus,
  start: Type.Number(),
  end: Type.Optional(Type.Number()),
  error: Type.Optional(Type.Union([TaskError, Type.String()])),
})
export type LastMaintenance = Static<typeof LastMaintenance>

export const UsageHistory = Type.Object({
  repositoryId: Type.String(),
  name: Type.String(),
  chunkSize: Type.Union([Type.Number(), Type.Null()], {
    description: 'null when the repository could not be opened (its ratios are null then).',
  }),
  samples: Type.Array(UsageHistorySample),
  maintenance: Type.Object({
    gc: Type.Union([LastMaintenance, Type.Null()]),
    check: Type.Union([LastMaintenance, Type.Null()]),
    verify: Type.Union([LastMaintenance, Type.Null()]),
  }),
})
export type UsageHistory = Static<typeof UsageHistory>
