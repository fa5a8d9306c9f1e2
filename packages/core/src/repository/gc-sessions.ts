// What GC learns from the sessions/ prefix: which backups are running (their lease is fresh), what they
// protect (base indexes, borrowed chunks) and which sessions are dead and can be cleaned up.
import { isNotFound } from '../storage/index.js'
import type { Repository } from './repository.js'
import { ID_LENGTH, PREFIX_SESSIONS } from './format/constants.js'
import { decodeSessionOpen, parseSessionKey, type SessionOpen } from './format/session.js'

export interface SessionState {
  readonly id: string
  readonly keys: string[]
  /** Store time of the 'open' object, if still there. */
  opened: Date | undefined
  /** Store time of the newest object: the lease is measured from it. */
  newest: Date
}

export async function listSessions(
  repo: Repository,
  signal?: AbortSignal,
): Promise<Map<string, SessionState>> {
  const sessions = new Map<string, SessionState>()
  for await (const info of repo.store.list(PREFIX_SESSIONS, { signal })) {
    const parsed = parseSessionKey(info.key)
    if (parsed === undefined) continue
    const modified = info.modified ?? new Date() // unknown age counts as fresh: never ignore a live backup
    let s = sessions.get(parsed.session)
    if (s === undefined)
      sessions.set(
        parsed.session,
        (s = { id: parsed.session, keys: [], opened: undefined, newest: modified }),
      )
    s.keys.push(info.key)
    if (modified > s.newest) s.newest = modified
    if (parsed.name === 'open') s.opened = modified
  }
  return sessions
}

export function isLive(session: SessionState, leaseMs: number, now: number): boolean {
  return now - session.newest.getTime() < leaseMs
}

export interface SessionProtection {
  readonly open: SessionOpen
  /** Borrowed ids, concatenated. */
  readonly borrowed: Uint8Array[]
}

/** The session's open record and borrowed ids; undefined if it closed meanwhile (it then committed or gave up). */
export async function readProtection(
  repo: Repository,
  session: SessionState,
  signal?: AbortSignal,
): Promise<SessionProtection | undefined> {
  try {
    const openKey = session.keys.find((k) => k.endsWith('/open'))
    if (openKey === undefined) return undefined
    const open = decodeSessionOpen(await repo.store.get(openKey, { signal }), `session record '${openKey}'`)
    const borrowed: Uint8Array[] = []
    for await (const info of repo.store.list(`${PREFIX_SESSIONS}${session.id}/borrow-`, { signal })) {
      const bytes = await repo.store.get(info.key, { signal })
      if (bytes.length % ID_LENGTH === 0) borrowed.push(bytes)
    }
    return { open, borrowed }
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}
