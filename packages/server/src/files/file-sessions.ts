// The server's file-level restore sessions: one libguestfs appliance per restore point disk being browsed,
// shared by the requests that browse it, closed after IDLE_MS without a request, and at most
// MAX_FILE_SESSIONS at once server-wide (each appliance holds about a gigabyte of memory and a core while
// it starts): one more is refused with 503 and Retry-After until one closes. The server's stop closes them.
import { resolvePoint } from '@strata/core/repository'
import { FileRestoreSession } from '@strata/core/restore'
import { RetryLaterError } from '../errors.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { ServerLog } from '../server-log.js'

export const MAX_FILE_SESSIONS = 2
const IDLE_MS = 10 * 60_000
/** An appliance under TCG starts in about 20 s, more on a busy host. */
const LAUNCH_MS = 5 * 60_000

export interface FileSessionKey {
  readonly repositoryId: string
  readonly pointId: string
  readonly disk: number
}

interface Entry {
  readonly starting: Promise<FileRestoreSession>
  /** Once started. */
  session?: FileRestoreSession
}

export interface FileSessionsOptions {
  readonly repositoryService: RepositoryService
  readonly log: ServerLog
  /** Aborted when the server stops: appliances being started give up. */
  readonly closing: AbortSignal
  readonly idleTimeoutMs?: number
}

export class FileSessions {
  readonly #sessions = new Map<string, Entry>()
  readonly #options: FileSessionsOptions

  constructor(options: FileSessionsOptions) {
    this.#options = options
  }

  /** Sessions open or starting (for tests that check none is left behind). */
  get size(): number {
    return this.#sessions.size
  }

  /** The session of a point's disk, started on first use; requests for it while it starts share the start. */
  async get(key: FileSessionKey): Promise<FileRestoreSession> {
    const id = sessionId(key)
    this.#dropClosed()
    const known = this.#sessions.get(id)
    if (known !== undefined) {
      const session = await known.starting
      if (!session.closed) return session
      if (this.#sessions.get(id) === known) this.#sessions.delete(id)
      return this.get(key)
    }
    if (this.#sessions.size >= MAX_FILE_SESSIONS)
      throw new RetryLaterError(
        503,
        'TOO_MANY_FILE_SESSIONS',
        `${MAX_FILE_SESSIONS} restore points are being browsed; try again when one is closed or idle`,
        60,
      )
    const entry: Entry = { starting: this.#open(key) }
    this.#sessions.set(id, entry)
    entry.starting.then(
      (session) => (entry.session = session),
      () => {
        if (this.#sessions.get(id) === entry) this.#sessions.delete(id)
      },
    )
    return entry.starting
  }

  /** Ends the session of a point's disk, if there is one (the user is done browsing). */
  async close(key: FileSessionKey): Promise<boolean> {
    const id = sessionId(key)
    const entry = this.#sessions.get(id)
    if (entry === undefined) return false
    this.#sessions.delete(id)
    await (await entry.starting.catch(() => undefined))?.close()
    return true
  }

  async closeAll(): Promise<void> {
    const all = [...this.#sessions.values()]
    this.#sessions.clear()
    await Promise.all(all.map(async (e) => (await e.starting.catch(() => undefined))?.close()))
  }

  async #open(key: FileSessionKey): Promise<FileRestoreSession> {
    const { repositoryService, closing, log } = this.#options
    const signal = AbortSignal.any([closing, AbortSignal.timeout(LAUNCH_MS)])
    const repository = await repositoryService.openCurrent(key.repositoryId, signal)
    const ref = await resolvePoint(repository, key.pointId, signal)
    const started = performance.now()
    const session = await FileRestoreSession.open({
      repository,
      ref,
      disk: key.disk,
      idleTimeoutMs: this.#options.idleTimeoutMs ?? IDLE_MS,
      launchTimeoutMs: LAUNCH_MS,
      signal,
    })
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    const accel = session.accelerator === 'kvm' ? 'KVM' : 'TCG (KVM is unusable here: slower)'
    log.info(
      `file restore of disk ${key.disk} of ${key.pointId}: appliance started in ${seconds} s under ${accel}`,
    )
    return session
  }

  /** Sessions that closed themselves (idle, or their appliance died) free their place. */
  #dropClosed(): void {
    for (const [id, entry] of this.#sessions) if (entry.session?.closed === true) this.#sessions.delete(id)
  }
}

const sessionId = (key: FileSessionKey): string => `${key.repositoryId}\0${key.pointId}\0${key.disk}`
