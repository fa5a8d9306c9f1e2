// The schedule ticks an agent has run, on disk: an order for a tick it ran already (the server sent it
// again after a restart, or fired it twice) is answered "done already" instead of running the job a
// second time. Bounded: the newest MAX_TICKS are kept, far more than the orders in flight at any time.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { AgentError } from './agent-errors.js'
import type { ScheduleTick } from './protocol-repository.js'

export const MAX_TICKS = 1024

interface Entry {
  readonly jobId: string
  readonly at: number
  readonly runId: string
}

export class TickLog {
  #entries: Entry[]

  constructor(
    readonly file: string,
    readonly max = MAX_TICKS,
  ) {
    this.#entries = read(file).slice(-max)
  }

  /**
   * Records that `runId` runs this tick, and answers undefined; or, when the tick was run already, the
   * run that ran it (nothing recorded).
   */
  claim(tick: ScheduleTick, runId: string): string | undefined {
    const had = this.#entries.find((e) => e.jobId === tick.jobId && e.at === tick.at)
    if (had !== undefined) return had.runId
    this.#entries = [...this.#entries, { jobId: tick.jobId, at: tick.at, runId }].slice(-this.max)
    // Written before the run starts, through a rename: a crash leaves the old record or the new, whole.
    mkdirSync(dirname(this.file), { recursive: true })
    writeFileSync(`${this.file}.tmp`, JSON.stringify(this.#entries))
    renameSync(`${this.file}.tmp`, this.file)
    return undefined
  }
}

function read(file: string): Entry[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    value = error
  }
  if (!Array.isArray(value))
    throw new AgentError('AGENT_TICKS_UNREADABLE', `${file} is not a list of ticks: move it away to start`, {
      cause: value,
    })
  return value
    .filter(
      (e): e is Entry =>
        typeof e === 'object' &&
        e !== null &&
        typeof e.jobId === 'string' &&
        typeof e.at === 'number' &&
        typeof e.runId === 'string',
    )
    .slice(-MAX_TICKS)
}
