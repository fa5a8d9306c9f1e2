// The open event streams (GET /api/events), by user: at most `perUser` at once (one per browser tab is
// plenty; more is a client holding connections and listeners open), and each ends when what
// authenticated it ends: its session at logout, its token at revocation, every one of a user at a
// password change or deletion. Streams also re-check their credential now and then (see run-routes),
// which covers sessions and tokens that expire while a stream is open.
import type { Credential } from '../auth/credentials.js'
import { RetryLaterError } from '../errors.js'

export const STREAMS_PER_USER = 8

interface Stream {
  readonly credential: Credential
  readonly end: () => void
}

export class EventStreams {
  readonly #byUser = new Map<string, Set<Stream>>()

  constructor(readonly perUser = STREAMS_PER_USER) {}

  /** Registers an open stream (429 past the user's cap); the returned function unregisters it. */
  add(credential: Credential, end: () => void): () => void {
    const userId = credential.user.id
    const streams = this.#byUser.get(userId) ?? new Set<Stream>()
    if (streams.size >= this.perUser)
      throw new RetryLaterError(
        429,
        'TOO_MANY_STREAMS',
        `at most ${this.perUser} event streams per user are open at once; close a tab first`,
        15,
      )
    const stream = { credential, end }
    streams.add(stream)
    this.#byUser.set(userId, streams)
    return () => {
      streams.delete(stream)
      if (streams.size === 0 && this.#byUser.get(userId) === streams) this.#byUser.delete(userId)
    }
  }

  count(userId: string): number {
    return this.#byUser.get(userId)?.size ?? 0
  }

  endSession(sessionId: string): void {
    this.#end((c) => c.via === 'session' && c.id === sessionId)
  }

  endToken(tokenId: string): void {
    this.#end((c) => c.via === 'token' && c.id === tokenId)
  }

  endUser(userId: string): void {
    this.#end((c) => c.user.id === userId)
  }

  #end(matches: (credential: Credential) => boolean): void {
    for (const streams of this.#byUser.values())
      for (const stream of [...streams]) if (matches(stream.credential)) stream.end()
  }
}
