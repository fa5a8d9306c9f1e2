// Reading a TLS socket upgraded by STARTTLS into buffers we choose. Node offers this (`onread`) only for
// sockets it opens itself; for an upgraded one every 16 KiB TLS record becomes a new Buffer and a stream
// push, which costs more CPU than decrypting it. The same read path exists on every stream handle
// (`useUserBuffer` and three symbols on the socket that `onread` sets), so it is switched on by hand
// here. These are Node internals: everything is feature-tested, and on any doubt the caller keeps
// using 'data' events, which it listens to anyway (so a switch that silently did nothing still loses no
// byte). The library reads no environment: callers turn it off with an option (A/B runs, diagnostics).
import { Socket } from 'node:net'

export interface Internals {
  buffer: symbol
  callback: symbol
  generator: symbol
}

let internals: Internals | null | undefined

/**
 * The feature test: a socket made with `onread` must carry the three symbols, by name, holding what
 * was given. `makeProbe` is for tests (a Node without them). Null: not supported, use 'data' events.
 */
export function probeUserBufferInternals(
  makeProbe: (onread: { buffer: Buffer; callback: () => boolean }) => object = (onread) =>
    new Socket({ onread } as ConstructorParameters<typeof Socket>[0]),
): Internals | null {
  try {
    const onread = { buffer: Buffer.alloc(1), callback: () => true }
    const probe = makeProbe(onread) as Record<symbol, unknown> & { destroy?: () => void }
    const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]))
    const [buffer, callback, generator] = ['kBuffer', 'kBufferCb', 'kBufferGen'].map((n) => byName.get(n))
    const holds =
      buffer !== undefined &&
      callback !== undefined &&
      generator !== undefined &&
      probe[buffer] === onread.buffer &&
      probe[callback] === onread.callback
    probe.destroy?.()
    return holds ? { buffer, callback, generator } : null
  } catch {
    return null
  }
}

function findInternals(): Internals | null {
  internals ??= probeUserBufferInternals()
  return internals
}

export interface UserBufferOptions {
  /** false keeps 'data' events (default true). */
  readonly enabled?: boolean
  /** The feature test's result to use instead of this Node's (tests force the fallback with null). */
  readonly internals?: Internals | null
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
  options: UserBufferOptions = {},
): boolean {
  if (options.enabled === false) return false
  const symbols = options.internals === undefined ? findInternals() : options.internals
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
