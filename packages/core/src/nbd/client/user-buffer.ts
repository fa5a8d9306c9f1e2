// Reading a TLS socket upgraded by STARTTLS into buffers we choose. Node offers this (`onread`) only for
// sockets it opens itself; for an upgraded one every 16 KiB TLS record becomes a new Buffer and a stream
// push, which costs more CPU than decrypting it. The same read path exists on every stream handle
// (`useUserBuffer` and three symbols on the socket that `onread` sets), so it is switched on by hand
// here. These are Node internals: everything is feature-tested, and on any doubt the caller keeps
// using 'data' events.
import { Socket } from 'node:net'

interface Internals {
  buffer: symbol
  callback: symbol
  generator: symbol
}

let internals: Internals | null | undefined

function findInternals(): Internals | null {
  if (internals !== undefined) return internals
  try {
    const onread = { buffer: Buffer.alloc(1), callback: () => true }
    const probe = new Socket({ onread } as ConstructorParameters<typeof Socket>[0])
    const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]))
    const [buffer, callback, generator] = ['kBuffer', 'kBufferCb', 'kBufferGen'].map((n) => byName.get(n))
    probe.destroy()
    internals =
      buffer !== undefined && callback !== undefined && generator !== undefined
        ? { buffer, callback, generator }
        : null
  } catch {
    internals = null
  }
  return internals
}

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => void
}

/**
 * Makes `socket` read into `next()`'s buffers, calling `received(n, buffer)` for each read instead of
 * emitting 'data'. Returns false (and changes nothing) when this Node does not allow it or when bytes
 * are already waiting in the socket's stream buffer. Keep a 'data' listener (attached after this call):
 * it sees nothing when the switch worked.
 */
export function readIntoUserBuffers(
  socket: Socket,
  next: () => Buffer,
  received: (n: number, buffer: Buffer) => void,
): boolean {
  if (process.env.STRATA_NBD_TLS_USER_BUFFER === '0') return false
  const symbols = findInternals()
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle
  if (symbols === null || typeof handle?.useUserBuffer !== 'function') return false
  if (socket.readableLength > 0 || socket.listenerCount('data') > 0) return false
  const slots = socket as unknown as Record<symbol, unknown>
  if (slots[symbols.buffer] !== null || slots[symbols.generator] !== null) return false
  const first = next()
  slots[symbols.buffer] = first
  slots[symbols.generator] = next
  slots[symbols.callback] = (n: number, buffer: Buffer): boolean => (received(n, buffer), true)
  handle.useUserBuffer(first)
  return true
}
