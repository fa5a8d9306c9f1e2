// The server's transmission phase: requests are read one after the other and served concurrently (up to
// a bound per connection); each reply leaves in one piece. Errors of the source become EIO replies.
import { setMaxListeners } from 'node:events'
import { Cmd, CmdFlag, Errno, ReplyFlag, ReplyType, REQUEST_SIZE } from '../codec/constants.js'
import type { Extent } from '../codec/extent.js'
import {
  decodeRequest,
  encodeBlockStatusReply,
  encodeErrorPayload,
  encodeOffsetDataHeader,
  encodeSimpleReply,
  encodeStructuredHeader,
  type WireRequest,
} from '../codec/transmission.js'
import { AbortedError, errorMessage } from '../../shared/errors.js'
import { BASE_ALLOCATION_ID, type Session } from './negotiation.js'
import type { Peer } from './peer.js'
import type { Profile } from './profile.js'

const MAX_CONCURRENT = 16
/** Replies queued in the socket beyond this wait for it to drain (the default high-water mark, 16 KiB, would serialize requests). */
const MAX_BUFFERED = 8 * 1024 * 1024

class CommandError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message)
  }
}

export async function serveTransmission(
  peer: Peer,
  session: Session,
  profile: Profile,
  signal: AbortSignal,
): Promise<void> {
  const running = new Set<Promise<void>>()
  let slotFreed: (() => void) | undefined
  // An abort ends the queue: the reads below then fail at once, without a listener of their own each.
  const stop = (): void => peer.queue.end(new AbortedError(signal.reason))
  if (signal.aborted) stop()
  signal.addEventListener('abort', stop, { once: true })
  // Each request in flight may wait on the signal too (a source racing a fetch against it): bounded.
  setMaxListeners(MAX_CONCURRENT + 8, signal)
  try {
    for (;;) {
      const bytes = peer.queue.tryRead(REQUEST_SIZE) ?? (await peer.queue.read(REQUEST_SIZE))
      const request = decodeRequest(bytes)
      if (request.type === Cmd.DISC && (profile.modern || request.flags === 0)) break
      if (!answerNow(peer, session, profile, request)) {
        let payload: Buffer | undefined
        if (request.type === Cmd.WRITE && (profile.modern || request.flags === 0)) {
          if (request.length > profile.maxRequest) return // cannot skip the payload safely: hang up
          payload = peer.queue.tryRead(request.length) ?? (await peer.queue.read(request.length))
        }
        const task: Promise<void> = serve(peer, session, profile, request, payload, signal).finally(() => {
          running.delete(task)
          slotFreed?.()
        })
        running.add(task)
        if (running.size >= MAX_CONCURRENT) await new Promise<void>((resolve) => (slotFreed = resolve))
        slotFreed = undefined
      }
      if (peer.socket.writableLength > MAX_BUFFERED) await peer.drain()
    }
    await Promise.allSettled(running)
  } finally {
    signal.removeEventListener('abort', stop)
  }
}

/**
 * Answers a READ or BLOCK_STATUS at once when the source holds the answer in memory (sequential clients
 * mostly hit its read-ahead): no promise, no task. False when the request must take the general path.
 */
function answerNow(peer: Peer, session: Session, profile: Profile, request: WireRequest): boolean {
  const source = session.resolved.source
  if (!profile.modern || !validRange(session, profile, request)) return false
  if (request.type === Cmd.READ && request.flags === 0 && source.readNow !== undefined) {
    const data = source.readNow(request.offset, request.length)
    if (data === undefined) return false
    peer.writeAll(readReply(session, request, data), source.release && (() => source.release!(data)))
    return true
  }
  if (request.type === Cmd.BLOCK_STATUS && source.blockStatusNow !== undefined) {
    if (!session.contexts.has(BASE_ALLOCATION_ID)) return false
    const found = source.blockStatusNow(request.offset, request.length)
    if (found === undefined) return false
    peer.writeAll(blockStatusReply(request, found))
    return true
  }
  return false
}

async function serve(
  peer: Peer,
  session: Session,
  profile: Profile,
  request: WireRequest,
  payload: Buffer | undefined,
  signal: AbortSignal,
): Promise<void> {
  try {
    const parts = await execute(session, profile, request, payload, signal)
    // Once a READ's data is in the kernel, its buffer can go back to the source.
    const data = request.type === Cmd.READ ? parts[parts.length - 1] : undefined
    const source = session.resolved.source
    peer.writeAll(
      parts,
      data === undefined || source.release === undefined ? undefined : () => source.release!(data),
    )
  } catch (error) {
    const errno = error instanceof CommandError ? error.errno : Errno.EIO
    peer.write(errorReply(session, request, errno, errorMessage(error)))
  }
}

function errorReply(session: Session, request: WireRequest, errno: number, message: string): Buffer {
  if (!session.structured) return encodeSimpleReply(errno, request.handle)
  const body = encodeErrorPayload(errno, message)
  return Buffer.concat([
    encodeStructuredHeader(ReplyFlag.DONE, ReplyType.ERROR, request.handle, body.length),
    body,
  ])
}

async function execute(
  session: Session,
  profile: Profile,
  request: WireRequest,
  payload: Buffer | undefined,
  signal: AbortSignal,
): Promise<(Buffer | Uint8Array)[]> {
  const source = session.resolved.source
  const ok = (): Buffer[] => [okReply(session, request)]
  // xapi-nbd reads the type as a full u32: any command flag makes an unknown command.
  if (!profile.modern && request.flags !== 0)
    throw new CommandError(Errno.EINVAL, 'command flags are not supported')
  switch (request.type) {
    case Cmd.READ: {
      checkRange(session, profile, request)
      return readReply(session, request, await source.read(request.offset, request.length, signal))
    }
    case Cmd.WRITE:
      if (!session.writable || source.write === undefined)
        throw new CommandError(Errno.EPERM, 'read-only export')
      checkRange(session, profile, request)
      await source.write(request.offset, payload!, signal)
      if ((request.flags & CmdFlag.FUA) !== 0) await source.flush?.(signal)
      return ok()
    case Cmd.FLUSH:
      if (!profile.modern) break
      await source.flush?.(signal)
      return ok()
    case Cmd.CACHE:
      if (!profile.modern) break
      checkRange(session, profile, request)
      return ok()
    case Cmd.BLOCK_STATUS:
      if (!profile.modern || !session.contexts.has(BASE_ALLOCATION_ID)) break
      return blockStatus(session, profile, request, signal)
  }
  throw new CommandError(Errno.EINVAL, `command ${request.type} is not supported`)
}

function okReply(session: Session, request: WireRequest): Buffer {
  return session.structured
    ? encodeStructuredHeader(ReplyFlag.DONE, ReplyType.NONE, request.handle, 0)
    : encodeSimpleReply(0, request.handle)
}

/** A READ's reply: header (and offset) and the data last, which the caller releases once sent. */
function readReply(session: Session, request: WireRequest, data: Uint8Array): (Buffer | Uint8Array)[] {
  if (!session.structured) return [encodeSimpleReply(0, request.handle), data]
  return [encodeOffsetDataHeader(request.handle, request.offset, data.length), data]
}

/** What checkRange accepts, as a test (the fast path leaves every error to the general path). */
function validRange(session: Session, profile: Profile, request: WireRequest): boolean {
  const { offset, length } = request
  const max = request.type === Cmd.BLOCK_STATUS ? 2 ** 32 - 1 : profile.maxRequest
  return (
    offset % profile.alignment === 0 &&
    length % profile.alignment === 0 &&
    length > 0 &&
    length <= max &&
    offset + length <= session.resolved.source.size
  )
}

function checkRange(session: Session, profile: Profile, request: WireRequest): void {
  const { offset, length } = request
  if (offset % profile.alignment !== 0 || length % profile.alignment !== 0) {
    throw new CommandError(Errno.EINVAL, `offset and length must be multiples of ${profile.alignment}`)
  }
  if (length > profile.maxRequest) {
    throw new CommandError(
      session.structured ? Errno.EOVERFLOW : Errno.EINVAL,
      `request of ${length} bytes is too large`,
    )
  }
  if (length === 0 || offset + length > session.resolved.source.size) {
    throw new CommandError(Errno.EINVAL, `request ${offset}+${length} is outside the export`)
  }
}

async function blockStatus(
  session: Session,
  profile: Profile,
  request: WireRequest,
  signal: AbortSignal,
): Promise<Buffer[]> {
  checkRange(session, { ...profile, maxRequest: 2 ** 32 - 1 }, request)
  const source = session.resolved.source
  const { offset, length } = request
  const found: Extent[] = (await source.blockStatus?.(offset, length, signal)) ?? [
    { offset, length, flags: 0 },
  ]
  return blockStatusReply(request, found)
}

/** The reply to a BLOCK_STATUS from what the source found. */
function blockStatusReply(request: WireRequest, found: readonly Extent[]): Buffer[] {
  const { offset, length } = request
  const end = offset + length
  // Keep what lies in the request, contiguous from its start; a source that says less is topped up as data.
  const extents: Extent[] = []
  let at = offset
  for (const e of found) {
    if (e.offset !== at || at >= end || e.length <= 0) break
    const length = Math.min(e.length, end - at)
    extents.push({ offset: at, length, flags: e.flags })
    at += length
  }
  if (extents.length === 0) extents.push({ offset, length, flags: 0 })
  const chosen = (request.flags & CmdFlag.REQ_ONE) !== 0 ? extents.slice(0, 1) : extents
  return [encodeBlockStatusReply(request.handle, BASE_ALLOCATION_ID, chosen)]
}
