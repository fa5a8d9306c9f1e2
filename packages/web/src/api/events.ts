// The live stream of /api/events, shared by every view: one EventSource while anyone listens. The
// browser reconnects by itself after a dropped stream; views that missed events refetch what they show
// on `open`. The server ends a stream at logout or when its session is gone, and refuses one past the
// per-user cap (429): the browser then gives up (readyState CLOSED), so this tries again a while later,
// as long as a view listens (a lost session sends the user to the login page, which closes it all).
import { ref } from 'vue'
import type { RunSummary, TaskEventMessage } from '@strata/contract'

export interface EventHandlers {
  task?: (message: TaskEventMessage) => void
  run?: (run: RunSummary) => void
  /** The stream (re)opened: anything could have happened meanwhile. */
  open?: () => void
}

const handlers = new Set<EventHandlers>()
let source: EventSource | undefined
let retry: ReturnType<typeof setTimeout> | undefined
const RETRY_MS = 30_000

/** Whether the stream is open: the UI shows it as "live". */
export const liveConnected = ref(false)

function parse<T>(event: MessageEvent): T | undefined {
  try {
    return JSON.parse(String(event.data)) as T
  } catch {
    return undefined
  }
}

function connect(): EventSource {
  const stream = new EventSource('/api/events', { withCredentials: true })
  stream.addEventListener('open', () => {
    liveConnected.value = true
    handlers.forEach((h) => h.open?.())
  })
  stream.addEventListener('error', () => {
    liveConnected.value = stream.readyState === EventSource.OPEN
    if (stream.readyState === EventSource.CLOSED && source === stream && retry === undefined)
      retry = setTimeout(() => {
        retry = undefined
        if (source !== stream || handlers.size === 0) return
        stream.close()
        source = connect()
      }, RETRY_MS)
  })
  stream.addEventListener('task', (event) => {
    const message = parse<TaskEventMessage>(event)
    if (message !== undefined) handlers.forEach((h) => h.task?.(message))
  })
  stream.addEventListener('run', (event) => {
    const run = parse<RunSummary>(event)
    if (run !== undefined) handlers.forEach((h) => h.run?.(run))
  })
  return stream
}

/** Listens until the returned function is called (a view's onUnmounted). */
export function subscribe(h: EventHandlers): () => void {
  handlers.add(h)
  source ??= connect()
  return () => {
    handlers.delete(h)
    if (handlers.size === 0) closeEvents()
  }
}

/** Closes the stream (logout). */
export function closeEvents(): void {
  clearTimeout(retry)
  retry = undefined
  source?.close()
  source = undefined
  liveConnected.value = false
}
