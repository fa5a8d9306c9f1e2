// What an agent says about its runs, numbered and kept on disk until the server acknowledges it: a link
// that dies takes with it whatever was in flight, so on the next link everything after the server's last
// acknowledgement is sent again (the server drops what it had already). Segments of SEGMENT_MESSAGES
// messages are deleted once acknowledged. Bounded: past `limitBytes` unacknowledged, progress events
// are no longer kept (a run's starts, ends, warnings and result always are).
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { RunMessage } from './protocol.js'

const SEGMENT_MESSAGES = 1000
export const OUTBOX_LIMIT_BYTES = 256 * 1024 * 1024

export interface Numbered {
  readonly seq: number
  readonly m: RunMessage
}

export class Outbox {
  #seq = 0
  #acked = 0
  #bytes = 0
  readonly #segments: { first: number; last: number; bytes: number }[] = []

  /** A fresh outbox in `dir`: what a previous process of the agent left is not its runs any more. */
  constructor(
    readonly dir: string,
    readonly limitBytes = OUTBOX_LIMIT_BYTES,
  ) {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
  }

  get acked(): number {
    return this.#acked
  }

  /** Numbers and keeps a message; undefined when it is progress the full outbox leaves out. */
  push(m: RunMessage): Numbered | undefined {
    const line = JSON.stringify(m)
    const progress = m.type === 'event' && m.event.type === 'progress'
    if (progress && this.#bytes + line.length > this.limitBytes) return undefined
    const seq = ++this.#seq
    let segment = this.#segments.at(-1)
    if (segment === undefined || segment.last - segment.first + 1 >= SEGMENT_MESSAGES) {
      segment = { first: seq, last: seq - 1, bytes: 0 }
      this.#segments.push(segment)
    }
    const text = `${JSON.stringify({ seq, m })}\n`
    appendFileSync(this.#path(segment.first), text)
    segment.last = seq
    segment.bytes += text.length
    this.#bytes += text.length
    return { seq, m }
  }

  /** The server has everything up to `seq`: segments wholly before it go. */
  ack(seq: number): void {
    this.#acked = Math.max(this.#acked, Math.min(seq, this.#seq))
    while (this.#segments.length > 0 && this.#segments[0]!.last <= this.#acked) {
      const gone = this.#segments.shift()!
      this.#bytes -= gone.bytes
      rmSync(this.#path(gone.first), { force: true })
    }
  }

  /** Every message after the last acknowledged one, in order (read back from disk). */
  *pending(): Generator<Numbered> {
    for (const segment of [...this.#segments]) {
      let text: string
      try {
        text = readFileSync(this.#path(segment.first), 'utf8')
      } catch {
        continue // acknowledged (and deleted) meanwhile
      }
      for (const line of text.split('\n')) {
        if (line === '') continue
        const entry = JSON.parse(line) as Numbered
        if (entry.seq > this.#acked) yield entry
      }
    }
  }

  /** For tests and the agent's own checks: the files there are now. */
  files(): string[] {
    return readdirSync(this.dir).sort()
  }

  #path(first: number): string {
    return join(this.dir, `${String(first).padStart(12, '0')}.jsonl`)
  }
}
