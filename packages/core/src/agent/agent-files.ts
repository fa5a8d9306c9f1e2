// File-level restore on the agent, for the repositories assigned to it: one libguestfs appliance per
// point's disk being browsed, shared by the server's requests about it (browsing over the link, file
// downloads over their own streams), closed after IDLE_MS without a call or when the server says the
// user is done, and at most MAX_SESSIONS at once on the agent (each holds about a gigabyte and a core
// while it starts): one more is refused (TOO_MANY_FILE_SESSIONS, retryable) until one closes.
import { resolvePoint, type Repository } from '../repository/index.js'
import { FileRestoreSession } from '../restore/index.js'
import { StrataError } from '../shared/index.js'
import { openAt } from './agent-open.js'
import type { FileCall, RepositoryTarget } from './protocol-repository.js'

const MAX_SESSIONS = 2
const IDLE_MS = 10 * 60_000
const LAUNCH_MS = 5 * 60_000

interface Entry {
  readonly starting: Promise<{ session: FileRestoreSession; repo: Repository }>
  session?: FileRestoreSession
}

export class AgentFileSessions {
  readonly #sessions = new Map<string, Entry>()

  constructor(
    readonly o: { readonly dataDir: string; readonly log: (line: string) => void },
    /** Stopped when the agent stops: appliances being started give up. */
    readonly stopping: AbortSignal,
  ) {}

  /** Answers one browsing call about a point's disk (the session started on first use). */
  async call(target: RepositoryTarget, pointId: string, disk: number, call: FileCall, signal: AbortSignal) {
    if (call.kind === 'close') return { closed: await this.close(target, pointId, disk) }
    const session = await this.get(target, pointId, disk)
    switch (call.kind) {
      case 'filesystems':
        return { accelerator: session.accelerator, filesystems: await session.filesystems(signal) }
      case 'list':
        return session.list(call.path, { fs: call.fs, offset: call.offset, limit: call.limit, signal })
      case 'search':
        return session.search(call.q, { fs: call.fs, under: call.under, limit: call.limit, signal })
    }
  }

  /** The session of a point's disk; requests for it while it starts share the start. */
  async get(target: RepositoryTarget, pointId: string, disk: number): Promise<FileRestoreSession> {
    const id = sessionId(target, pointId, disk)
    this.#dropClosed()
    const known = this.#sessions.get(id)
    if (known !== undefined) {
      const { session } = await known.starting
      if (!session.closed) return session
      if (this.#sessions.get(id) === known) this.#sessions.delete(id)
      return this.get(target, pointId, disk)
    }
    if (this.#sessions.size >= MAX_SESSIONS)
      throw new StrataError(
        'TOO_MANY_FILE_SESSIONS',
        `${MAX_SESSIONS} restore points are being browsed on this agent; try again when one is closed or idle`,
        { retryable: true },
      )
    const entry: Entry = { starting: this.#open(target, pointId, disk) }
    this.#sessions.set(id, entry)
    entry.starting.then(
      ({ session }) => (entry.session = session),
      () => {
        if (this.#sessions.get(id) === entry) this.#sessions.delete(id)
      },
    )
    return (await entry.starting).session
  }

  async close(target: RepositoryTarget, pointId: string, disk: number): Promise<boolean> {
    const id = sessionId(target, pointId, disk)
    const entry = this.#sessions.get(id)
    if (entry === undefined) return false
    this.#sessions.delete(id)
    await closeEntry(entry)
    return true
  }

  async closeAll(): Promise<void> {
    const all = [...this.#sessions.values()]
    this.#sessions.clear()
    await Promise.all(all.map(closeEntry))
  }

  async #open(target: RepositoryTarget, pointId: string, disk: number) {
    const signal = AbortSignal.any([this.stopping, AbortSignal.timeout(LAUNCH_MS)])
    const repo = await openAt(this.o.dataDir, target, signal)
    try {
      const ref = await resolvePoint(repo, pointId, signal)
      const started = performance.now()
      const session = await FileRestoreSession.open({
        repository: repo,
        ref,
        disk,
        idleTimeoutMs: IDLE_MS,
        launchTimeoutMs: LAUNCH_MS,
        signal,
      })
      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      this.o.log(
        `file restore of disk ${disk} of ${pointId}: appliance started in ${seconds} s (${session.accelerator})`,
      )
      return { session, repo }
    } catch (error) {
      await repo.store.close?.().catch(() => undefined)
      throw error
    }
  }

  /** Sessions that closed themselves (idle, or their appliance died) free their place and repository. */
  #dropClosed(): void {
    for (const [id, entry] of this.#sessions)
      if (entry.session?.closed === true) {
        this.#sessions.delete(id)
        void closeEntry(entry)
      }
  }
}

async function closeEntry(entry: Entry): Promise<void> {
  const opened = await entry.starting.catch(() => undefined)
  await opened?.session.close().catch(() => undefined)
  await opened?.repo.store.close?.().catch(() => undefined)
}

const sessionId = (t: RepositoryTarget, pointId: string, disk: number): string =>
  `${t.location}\0${pointId}\0${disk}`
