// The parent's side of the pool limits of one worker process: it grants the worker slots of the parent's
// semaphores (shared by every worker the parent runs) and takes them all back when the worker dies.
import type { Semaphore } from '../shared/index.js'
import type { LimitsRegistry } from './limits-registry.js'
import type { LimitKind, ToWorker } from './worker-protocol.js'

export class SlotBroker {
  readonly #waiting = new Map<number, AbortController>()
  readonly #held = new Map<number, Semaphore>()
  #closed = false

  constructor(
    readonly limits: LimitsRegistry,
    readonly grant: (message: ToWorker) => void,
  ) {}

  acquire(id: number, pool: string, kind: LimitKind): void {
    const semaphore = this.limits.forPool(pool)[kind]
    const controller = new AbortController()
    this.#waiting.set(id, controller)
    semaphore.acquire(controller.signal).then(
      () => {
        this.#waiting.delete(id)
        if (this.#closed) return semaphore.release()
        this.#held.set(id, semaphore)
        this.grant({ type: 'granted', id })
      },
      () => this.#waiting.delete(id),
    )
  }

  release(id: number): void {
    this.#waiting.get(id)?.abort()
    this.#waiting.delete(id)
    this.#held.get(id)?.release()
    this.#held.delete(id)
  }

  releaseAll(): void {
    this.#closed = true
    for (const id of [...this.#waiting.keys(), ...this.#held.keys()]) this.release(id)
  }
}
