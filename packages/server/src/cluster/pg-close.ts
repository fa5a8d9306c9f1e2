// Closing a connection (or a pool) politely sends a message and waits for the server: on a connection
// whose network is gone that wait never ends. A stopping instance waits this long, then drops it.
const CLOSE_WAIT_MS = 2000

export async function closeSoon(closing: { end(): Promise<void> }, ms = CLOSE_WAIT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))
  await Promise.race([closing.end().catch(() => undefined), late])
  clearTimeout(timer)
}
