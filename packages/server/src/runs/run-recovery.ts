// At a server's start: the runs a stopped server left pending end with what their log says, else
// interrupted. On a shared store (cluster/), another live instance's runs are pending too and go on there.
import { readRun } from '@strata/core/engine'
import type { Coordinator } from '../cluster/coordinator.js'
import type { RunStore } from './run-store.js'

export async function recoverInterrupted(
  runs: Pick<RunStore, 'pending' | 'end'>,
  runsDir: string,
  coordinator?: Pick<Coordinator, 'liveRuns'>,
): Promise<void> {
  const pending = await runs.pending()
  const live = (await coordinator?.liveRuns(pending.map((r) => r.runId))) ?? new Set()
  for (const run of pending.filter((r) => !live.has(r.runId))) {
    const status = await readRun(runsDir, run.runId).then(
      (root) => (root.status === 'pending' ? 'interrupted' : root.status),
      () => 'interrupted' as const,
    )
    await runs.end(
      run.runId,
      status,
      Date.now(),
      status === 'interrupted'
        ? { code: 'SERVER_STOPPED', message: 'the server stopped during the run' }
        : undefined,
    )
  }
}
