// What happens once a run's record is final (its `run` event with an end on the run bus): its bytes are
// recorded for charts and metrics, the report goes out when the policies say so, and its repositories
// are sampled. All of it after the run has ended and its job is free, in the background: a slow
// channel or an unreadable log delays nothing and fails nothing of the run.
import { errorMessage } from '@strata/core'
import type { TaskNode } from '@strata/core/engine'
import type { Notifier } from '../notifications/notifier.js'
import { summarizeRun } from '../notifications/run-summary.js'
import type { RunBus } from '../runs/run-bus.js'
import type { RunRow } from '../runs/run-store.js'
import type { ServerLog } from '../server-log.js'
import type { RunStatsStore } from './run-stats-store.js'
import type { UsageSampler } from './usage-sampler.js'

export interface RunRecorderDeps {
  readonly bus: RunBus
  readonly stats: RunStatsStore
  readonly tree: (runId: string) => Promise<TaskNode>
  readonly notifier: Notifier
  readonly sampler: UsageSampler
  readonly log: ServerLog
}

export class RunRecorder {
  readonly #listener = (row: RunRow) => {
    if (row.status !== 'pending') this.deps.notifier.track(this.#ended(row))
  }

  constructor(readonly deps: RunRecorderDeps) {}

  start(): void {
    this.deps.bus.on('run', this.#listener)
  }

  stop(): void {
    this.deps.bus.off('run', this.#listener)
  }

  async #ended(row: RunRow): Promise<void> {
    await Promise.resolve() // never inside the run manager's own call
    try {
      const tree = await this.deps.tree(row.runId).catch(() => undefined)
      await this.deps.stats.record(row, summarizeRun(row, tree).totals)
    } catch (error) {
      this.deps.log.error(`the statistics of run ${row.runId} were not recorded: ${errorMessage(error)}`)
    }
    await this.deps.notifier.runEnded(row)
    if (row.kind !== 'restore') this.deps.sampler.sampleSoon()
  }
}
