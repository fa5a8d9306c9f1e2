// Reads a Server-Sent Events stream in a test: every event with its name and parsed data.
export interface SseEvent {
  readonly event: string
  readonly data: unknown
}

export interface SseStream {
  readonly events: SseEvent[]
  /** Resolves when the server ends the stream (or it is closed here). */
  readonly ended: Promise<void>
  close(): void
}

/** Opens the stream with a session cookie or, given `{ token }`, a Bearer token. */
export async function openSse(url: string, credential: string | { token: string }): Promise<SseStream> {
  const controller = new AbortController()
  const headers: Record<string, string> =
    typeof credential === 'string' ? { cookie: credential } : { authorization: `Bearer ${credential.token}` }
  const response = await fetch(url, { headers, signal: controller.signal })
  if (response.status !== 200 || response.body === null) throw new Error(`SSE answered ${response.status}`)
  const events: SseEvent[] = []
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
      if (done === true || value === undefined) return
      buffer += value
      let end: number
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const name = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (name !== undefined && data !== undefined) events.push({ event: name, data: JSON.parse(data) })
      }
    }
  })()
  return { events, ended, close: () => controller.abort() }
}
