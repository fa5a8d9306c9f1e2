// Where a run's time goes (STRATA_BENCH_PHASES=1): a task context that times each child task, and a
// count of the XAPI calls made, by method, with the time spent waiting on them. The calls overlap (some
// are sent together), so their times add up to more than the wall time; what matters is which phases
// and calls are large.
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { allowManyListeners, type TaskContext } from '@strata/core/shared'
import type { XapiClient } from '@strata/core/xapi'

export interface Trace {
  readonly task: TaskContext
  /** Lines describing the phases (start offset and duration) and the XAPI calls, then cleared. */
  report(): string[]
}

interface Span {
  readonly name: string
  readonly depth: number
  readonly start: number
  end?: number
}

export function phaseTrace(xapi: XapiClient): Trace {
  const spans: Span[] = []
  const calls = new Map<string, { n: number; ms: number }>()
  let origin = performance.now()
  const original = xapi.call.bind(xapi)
  xapi.call = async <T>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> => {
    const start = performance.now()
    try {
      return await original<T>(method, params, signal)
    } finally {
      const c = calls.get(method) ?? { n: 0, ms: 0 }
      calls.set(method, { n: c.n + 1, ms: c.ms + performance.now() - start })
    }
  }
  const make = (signal: AbortSignal, depth: number): TaskContext => ({
    signal,
    info: () => {},
    warn: () => {},
    progress: () => {},
    set: () => {},
    child: async (name, fn) => {
      const span: Span = { name, depth, start: performance.now() }
      spans.push(span)
      try {
        return await fn(make(signal, depth + 1))
      } finally {
        span.end = performance.now()
      }
    },
  })
  return {
    get task() {
      spans.length = 0
      calls.clear()
      origin = performance.now()
      return make(allowManyListeners(new AbortController().signal), 0)
    },
    report() {
      const ms = (n: number) => `${n.toFixed(0)} ms`
      const lines = spans.map(
        (s) =>
          `      ${'  '.repeat(s.depth)}${s.name}: +${ms(s.start - origin)}, ${ms((s.end ?? NaN) - s.start)}`,
      )
      const sorted = [...calls.entries()].sort(([, a], [, b]) => b.ms - a.ms)
      const total = sorted.reduce((n, [, c]) => n + c.n, 0)
      lines.push(`      XAPI calls: ${total}`)
      for (const [method, c] of sorted) lines.push(`        ${method} x${c.n}: ${ms(c.ms)}`)
      return lines
    },
  }
}

/** A CPU profile of this process from now; `stop` writes it (a .cpuprofile for Chrome's DevTools). */
export async function profileSelf(): Promise<{ stop(path: string): Promise<void> }> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return {
    async stop(path) {
      const { profile } = await session.post('Profiler.stop')
      await writeFile(path, JSON.stringify(profile))
      session.disconnect()
    },
  }
}
