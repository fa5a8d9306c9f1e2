// One server instance alone (the SQLite default): it is always the leader, each tick it fires is its
// own to fire, its runs are nobody else's, and there is no other instance to send events to.
import type { ClusterEvent, ClusterRun, Coordinator, OrphanRun } from './coordinator.js'

export class LocalCoordinator implements Coordinator {
  readonly instanceId = 'local'
  readonly shared = false
  readonly #ticks = new Map<string, number>()

  isLeader(): boolean {
    return true
  }

  onLeadership(_listener: (leader: boolean) => void): () => void {
    return () => undefined
  }

  // The scheduler of the only instance fires each due time once; the latest is kept for lastTick.
  claimTick(jobId: string, scheduleId: string, dueAt: number): Promise<boolean> {
    const key = JSON.stringify([jobId, scheduleId])
    const last = this.#ticks.get(key)
    if (last !== undefined && last >= dueAt) return Promise.resolve(false)
    this.#ticks.set(key, dueAt)
    return Promise.resolve(true)
  }

  lastTick(jobId: string, scheduleId: string): Promise<number | undefined> {
    return Promise.resolve(this.#ticks.get(JSON.stringify([jobId, scheduleId])))
  }

  claimRun(_run: ClusterRun): Promise<void> {
    return Promise.resolve()
  }

  releaseRun(_runId: string, _status: string): Promise<void> {
    return Promise.resolve()
  }

  onOrphan(_listener: (run: OrphanRun) => void): () => void {
    return () => undefined
  }

  onLost(_listener: (runId: string) => void): () => void {
    return () => undefined
  }

  publish(_event: ClusterEvent): void {}

  subscribe(_listener: (event: ClusterEvent) => void): () => void {
    return () => undefined
  }

  start(): Promise<void> {
    return Promise.resolve()
  }

  stop(): Promise<void> {
    return Promise.resolve()
  }
}
