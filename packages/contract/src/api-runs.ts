// Runs and their task trees as the API returns them, the events of /api/events, and the overview.
import { CloneType, Type, type Static, type TSchema } from '@sinclair/typebox'
import { RollbackWarning, UsageState } from './api-resources.js'
import { Strict, Text } from './schema-helpers.js'

export const TaskStatus = Type.Union(
  [
    Type.Literal('pending'),
    Type.Literal('success'),
    Type.Literal('failure'),
    Type.Literal('interrupted'),
    Type.Literal('skipped'),
    Type.Literal('warning'),
  ],
  {
    description: "'warning': the work was done but a check of it failed (a health check): orange, not green.",
  },
)
export type TaskStatus = Static<typeof TaskStatus>

export const TaskError = Type.Object({ code: Type.String(), message: Type.String() })
export type TaskError = Static<typeof TaskError>

const Data = Type.Record(Type.String(), Type.Unknown())

export const RunsQuery = Strict({
  job: Type.Optional(Text(100, { description: 'A job id.' })),
  state: Type.Optional(TaskStatus),
  since: Type.Optional(
    Text(40, {
      description:
        'Runs started then or later: ms since the epoch, or an ISO 8601 date (UTC unless it gives a zone).',
    }),
  ),
  jobId: Type.Optional(Text(100, { description: "The older name of 'job', still accepted." })),
  status: Type.Optional(CloneType(TaskStatus, { description: "The older name of 'state', still accepted." })),
  limit: Type.Optional(
    Type.String({
      pattern: '^[1-9][0-9]{0,3}$',
      description: 'At most this many runs (1 to 9999; 100 by default).',
    }),
  ),
  before: Type.Optional(
    Text(100, {
      pattern: '^[A-Za-z0-9._-]+$',
      description: 'The next page: runs listed after this run id (the last of the page before).',
    }),
  ),
})
export type RunsQuery = Static<typeof RunsQuery>
export const RunParams = Strict({ runId: Text(100, { pattern: '^[A-Za-z0-9._-]+$' }) })

/** A VM of a run, by name as it was then; `status` once the run ended. */
export const RunVm = Type.Object({ uuid: Type.String(), name: Type.String(), status: TaskStatus })
export type RunVm = Static<typeof RunVm>
/** A restore point a run wrote. */
export const RunPoint = Type.Object({
  repositoryId: Type.String(),
  repository: Type.String(),
  vmUuid: Type.String(),
  vm: Type.String(),
  pointId: Type.String(),
})
export type RunPoint = Static<typeof RunPoint>

export const RunSummary = Type.Object({
  runId: Type.String(),
  jobId: Type.Optional(Type.String()),
  jobName: Type.Optional(Type.String()),
  kind: Type.Optional(
    Type.Union([
      Type.Literal('backup'),
      Type.Literal('restore'),
      Type.Literal('replication'),
      Type.Literal('maintenance'),
      Type.Literal('mirror'),
      Type.Literal('metadata'),
      Type.Literal('xo-import'),
    ]),
  ),
  scheduleId: Type.Optional(Type.String()),
  status: TaskStatus,
  start: Type.Number(),
  end: Type.Optional(Type.Number()),
  warnings: Type.Number(),
  error: Type.Optional(Type.Union([TaskError, Type.String()])),
  pools: Type.Optional(
    Type.Array(Type.String(), { description: 'Names, as they were when the run started.' }),
  ),
  repositories: Type.Optional(Type.Array(Type.String())),
  vms: Type.Optional(Type.Array(RunVm)),
  points: Type.Optional(Type.Array(RunPoint)),
  agentUnreachable: Type.Optional(
    Type.String({
      description:
        "A run out on an agent whose link is down: the agent's name. The run goes on there (not failed).",
    }),
  ),
})
export type RunSummary = Static<typeof RunSummary>

export const TaskMessage = Type.Object({
  message: Type.String(),
  time: Type.Number(),
  data: Type.Optional(Data),
})
export type TaskMessage = Static<typeof TaskMessage>

/** One node of a run's task tree (children are nodes too). */
export interface Task {
  id: string
  name: string
  status: TaskStatus
  start: number
  end?: number
  progress?: { done: number; total?: number }
  /** Milliseconds left. */
  eta?: number
  /** Bytes per second. */
  speed?: number
  data: Record<string, unknown>
  warnings: TaskMessage[]
  infos?: TaskMessage[]
  error?: TaskError
  children: Task[]
}
export const Task: TSchema = Type.Recursive((This) =>
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    status: TaskStatus,
    start: Type.Number(),
    end: Type.Optional(Type.Number()),
    progress: Type.Optional(Type.Object({ done: Type.Number(), total: Type.Optional(Type.Number()) })),
    eta: Type.Optional(Type.Number()),
    speed: Type.Optional(Type.Number()),
    data: Data,
    warnings: Type.Array(TaskMessage),
    infos: Type.Optional(Type.Array(TaskMessage)),
    error: Type.Optional(TaskError),
    children: Type.Array(This),
  }),
)

/** One engine task event, as `event: task` of /api/events carries it. */
export type TaskEvent =
  | {
      type: 'start'
      id: string
      time: number
      parentId?: string
      name: string
      data?: Record<string, unknown>
    }
  | { type: 'end'; id: string; time: number; status: TaskStatus; error?: TaskError }
  | { type: 'info' | 'warning'; id: string; time: number; message: string; data?: Record<string, unknown> }
  | { type: 'progress'; id: string; time: number; done: number; total?: number }
  | { type: 'set'; id: string; time: number; data: Record<string, unknown> }

export interface TaskEventMessage {
  runId: string
  event: TaskEvent
}

export const NextRun = Type.Object({
  jobId: Type.String(),
  jobName: Type.String(),
  scheduleId: Type.String(),
  at: Type.Number(),
})
export type NextRun = Static<typeof NextRun>

export const Overview = Type.Object({
  lastRuns: Type.Array(RunSummary),
  nextRuns: Type.Array(NextRun),
  repositories: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      ...UsageState,
      rollback: Type.Optional(RollbackWarning),
    }),
  ),
  failures: Type.Array(RunSummary),
})
export type Overview = Static<typeof Overview>
