// Live run events for the SSE stream: every engine task event of a running run, and run summaries when
// a run starts or ends.
import { EventEmitter } from 'node:events'
import type { TaskEvent } from '@strata/core/engine'
import type { RunRow } from './run-store.js'

export class RunBus extends EventEmitter<{ task: [{ runId: string; event: TaskEvent }]; run: [RunRow] }> {
  constructor() {
    super()
    // One listener per open browser tab.
    this.setMaxListeners(1000)
  }
}
