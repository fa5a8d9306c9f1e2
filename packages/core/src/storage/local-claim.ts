// Create-once on a file system without hard links (an SMB share): an O_EXCL claim file beside the key
// names its one creator, which renames its complete temp file to the key. Why it holds (docs/storage.md,
// "exclusive mode"):
// - Readers: the key appears only by rename() of a complete, fsynced temp file to a name where nothing
//   is, which no file system makes visible half-done (no replace is involved, so the non-atomic
//   replace of an SMB share never happens): a reader sees nothing or the whole object.
// - Racing creators: O_EXCL lets one of them create the claim; only the claim's holder renames into the
//   key, after checking that the key is still absent. A loser waits: the key appearing is its
//   ALREADY_EXISTS (and that object is complete), the claim going away without the key means try again.
// - A killed writer leaves its claim. A claim of a process of this machine that is gone is broken at
//   once; any other (another machine's, or a pid since reused) only once it has stayed unchanged for
//   CLAIM_LEASE_MS on our own clock (never the server's: clocks differ). A holder holds its claim for a
//   stat and a rename, and reads it back just before the rename: a claim broken under it makes it a
//   waiter. Only a holder paused for the whole lease between that read and its rename could publish
//   beside a breaker (and the two objects would each be whole).
import { randomBytes, createHash } from 'node:crypto'
import { readFileSync, readlinkSync } from 'node:fs'
import { lstat, open, readFile, rename, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { errorCode, sleep, throwIfAborted } from '../shared/index.js'
import { FILE_MODE, TEMP_PREFIX } from './local-fs.js'
import { isProcessAlive } from './process-alive.js'
import { StorageError } from './storage-error.js'

/** How long a claim of an owner we cannot check must stay unchanged before it is taken for dead. */
export const CLAIM_LEASE_MS = 60_000

export interface PublishOptions {
  readonly key: string
  readonly storeName: string
  readonly signal?: AbortSignal
  /** Tests shorten it. */
  readonly leaseMs?: number
}

interface ClaimRecord {
  readonly owner: string
  readonly pid: number
  readonly token: string
}

/** What a waiter saw of a claim, and since when (monotonic ms). */
interface Sighting {
  readonly text: string
  readonly since: number
}

/**
 * Renames the complete temp file `temp` to `path` unless an object is there: ALREADY_EXISTS then (and
 * only once that object is complete). Of racing callers for one key, exactly one succeeds.
 */
export async function publishExclusive(temp: string, path: string, options: PublishOptions): Promise<void> {
  const claim = claimPath(path)
  const token = randomBytes(12).toString('hex')
  let seen: Sighting | undefined
  for (let round = 0; ; round++) {
    throwIfAborted(options.signal)
    if (await exists(path)) throw alreadyExists(options)
    if (await takeClaim(claim, token)) {
      try {
        // The key may have appeared between the check above and the claim (its creator just let go).
        if (await exists(path)) throw alreadyExists(options)
        if ((await readClaim(claim))?.token === token) {
          await rename(temp, path)
          return
        }
      } finally {
        await releaseClaim(claim, token)
      }
      seen = undefined // broken under us: wait like any other loser
    } else {
      seen = await judgeClaim(claim, seen, options.leaseMs ?? CLAIM_LEASE_MS)
    }
    await sleep(Math.min(10 * 2 ** Math.min(round, 6), 500), options.signal)
  }
}

/** The claim's name: a temp name (never listed, swept as a leftover), one per key. */
export function claimPath(path: string): string {
  const digest = createHash('sha256').update(basename(path)).digest('hex').slice(0, 32)
  return join(dirname(path), `${TEMP_PREFIX}claim-${digest}`)
}

/** Creates the claim (O_EXCL) with this process as its owner; false if someone holds it. */
export async function takeClaim(claim: string, token: string): Promise<boolean> {
  const record: ClaimRecord = { owner: OWNER, pid: process.pid, token }
  let handle
  try {
    handle = await open(claim, 'wx', FILE_MODE)
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false
    throw error
  }
  try {
    await handle.writeFile(JSON.stringify(record))
  } finally {
    await handle.close()
  }
  return true
}

async function readClaim(claim: string): Promise<ClaimRecord | undefined> {
  const text = await readFile(claim, 'utf8').catch(absent)
  return text === undefined ? undefined : parseClaim(text)
}

async function releaseClaim(claim: string, token: string): Promise<void> {
  if ((await readClaim(claim).catch(() => undefined))?.token === token) {
    await unlink(claim).catch(() => undefined)
  }
}

/**
 * Looks at a claim someone else holds: breaks it if its owner is a process of this machine that is
 * gone, or if it has not changed for `leaseMs`; returns what was seen, for the next look.
 */
async function judgeClaim(
  claim: string,
  seen: Sighting | undefined,
  leaseMs: number,
): Promise<Sighting | undefined> {
  const text = await readFile(claim, 'utf8').catch(absent)
  if (text === undefined) return undefined // let go meanwhile
  const record = parseClaim(text)
  const now = performance.now()
  const dead = record !== undefined && record.owner === OWNER && !isProcessAlive(record.pid)
  if (seen?.text !== text) {
    if (!dead) return { text, since: now }
  } else if (!dead && now - seen.since < leaseMs) {
    return seen
  }
  await breakClaim(claim, text)
  return undefined
}

/**
 * Moves the claim aside (one breaker's rename wins, the others find it gone), then deletes it. A claim
 * that changed meanwhile is moved aside too: its holder then finds its claim gone and waits.
 */
async function breakClaim(claim: string, text: string): Promise<void> {
  if ((await readFile(claim, 'utf8').catch(absent)) !== text) return
  const aside = join(dirname(claim), `${TEMP_PREFIX}broken-${randomBytes(8).toString('hex')}`)
  const moved = await rename(claim, aside).then(
    () => true,
    (error: unknown) => (errorCode(error) === 'ENOENT' ? false : Promise.reject(error)),
  )
  if (moved) await unlink(aside).catch(() => undefined)
}

function parseClaim(text: string): ClaimRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<ClaimRecord>
    const ok =
      typeof value.owner === 'string' && Number.isSafeInteger(value.pid) && typeof value.token === 'string'
    return ok ? (value as ClaimRecord) : undefined
  } catch {
    return undefined // cut short by a kill between its creation and its write: judged by the lease
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(absent)) !== undefined
}

function absent(error: unknown): undefined {
  const code = errorCode(error)
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
  throw error
}

function alreadyExists(options: PublishOptions): StorageError {
  return new StorageError('ALREADY_EXISTS', `object '${options.key}' already exists in ${options.storeName}`)
}

/**
 * This machine and pid namespace: a pid is checked only against processes that share them. The boot id
 * makes a claim left before a reboot another machine's (judged by the lease: its pid means nothing now).
 */
const OWNER = ((): string => {
  const read = (f: () => string): string => {
    try {
      return f().trim()
    } catch {
      return '?'
    }
  }
  const boot = read(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'))
  const pidNamespace = read(() => readlinkSync('/proc/self/ns/pid'))
  return `${hostname()} ${boot} ${pidNamespace}`
})()
