// Immutable objects in a local directory (docs/immutability.md, "Local directories"): the file system's
// immutable attribute (FS_IOC_SETFLAGS, `chattr +i`), which even root's unlink and rename cannot pass
// until it is cleared, with the object's date kept in a small file beside it (`.strata-until-<name>`)
// so that a delete knows when it may clear the attribute. Node has no ioctl: e2fsprogs' chattr sets and
// clears it, many files per process (group commit: while one chattr runs, the next requests queue and
// go together), never one process per object under load.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { errorMessage, throwIfAborted } from '../shared/index.js'
import { FILE_MODE, fsError, TEMP_PREFIX, UNTIL_PREFIX } from './local-fs.js'
import type { CallOptions, ObjectLock, Retention } from './object-store.js'
import { StorageError } from './storage-error.js'

export { UNTIL_PREFIX }
/** Paths given to one chattr: far below ARG_MAX with the longest keys of a repository. */
const BATCH_MAX = 256
const CHATTR = 'chattr'

interface Waiter {
  readonly path: string
  readonly done: (error?: Error) => void
}

/** Runs `chattr +i` or `-i` on paths, batched: each call resolves once its path is done. */
export class AttributeBatcher {
  readonly #queues = { '+i': [] as Waiter[], '-i': [] as Waiter[] }
  readonly #running = { '+i': false, '-i': false }

  constructor(
    readonly storeName: string,
    /** Runs one chattr (tests count the processes). */
    readonly run: (flag: '+i' | '-i', paths: readonly string[]) => Promise<void> = chattr,
  ) {}

  apply(flag: '+i' | '-i', path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queues[flag].push({ path, done: (error) => (error ? reject(error) : resolve()) })
      if (!this.#running[flag]) void this.#drain(flag)
    })
  }

  async #drain(flag: '+i' | '-i'): Promise<void> {
    this.#running[flag] = true
    try {
      for (let batch = this.#take(flag); batch.length > 0; batch = this.#take(flag)) {
        const error = await this.run(
          flag,
          batch.map((w) => w.path),
        ).then(
          () => undefined,
          (failure: unknown) => this.#error(flag, batch.length, failure),
        )
        for (const waiter of batch) waiter.done(error)
      }
    } finally {
      this.#running[flag] = false
    }
  }

  #take(flag: '+i' | '-i'): Waiter[] {
    return this.#queues[flag].splice(0, BATCH_MAX)
  }

  #error(flag: '+i' | '-i', count: number, failure: unknown): StorageError {
    const what = flag === '+i' ? 'make' : 'clear the immutable attribute of'
    const objects = flag === '+i' ? `${count} objects immutable` : `${count} objects`
    return new StorageError(
      'STORE_FAILED',
      `cannot ${what} ${objects} in ${this.storeName}: ${errorMessage(failure)}`,
      {
        cause: failure,
        details: { permanent: true },
      },
    )
  }
}

/** `chattr FLAG -- paths…` (no shell); rejects with chattr's own words. */
export function chattr(flag: '+i' | '-i', paths: readonly string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(CHATTR, [flag, '--', ...paths], { signal, timeout: 60_000 }, (error, _out, stderr) => {
      if (error === null) return resolve()
      const said = String(stderr).trim().split('\n')[0]
      reject(new Error(said === '' || said === undefined ? error.message : said, { cause: error }))
    })
  })
}

/** The path of the file that keeps the date of the object at `path`. */
export function untilPath(path: string): string {
  return join(dirname(path), `${UNTIL_PREFIX}${basename(path)}`)
}

/** The date kept beside the object at `path`; undefined if none was. */
export async function readUntil(path: string): Promise<Retention | undefined> {
  let text: string
  try {
    text = await readFile(untilPath(path), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  const parsed = JSON.parse(text) as { mode?: unknown; until?: unknown }
  const until = new Date(String(parsed.until))
  if (Number.isNaN(until.getTime())) throw new Error(`'${untilPath(path)}' holds no valid date`)
  return { mode: parsed.mode === 'GOVERNANCE' ? 'GOVERNANCE' : 'COMPLIANCE', until }
}

/** Keeps `retention` as the date of the object at `path`, unless a later one is kept already. */
export async function raiseUntil(path: string, retention: Retention): Promise<void> {
  const current = await readUntil(path)
  if (current !== undefined && current.until >= retention.until) return
  const target = untilPath(path)
  const temp = join(dirname(path), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`)
  const body = JSON.stringify({ mode: retention.mode, until: retention.until.toISOString() })
  const handle = await open(temp, 'wx', FILE_MODE)
  try {
    await handle.writeFile(body)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, target).catch(async (error: unknown) => {
    await unlink(temp).catch(() => undefined)
    throw error
  })
}

/**
 * Whether this process can make files immutable under `root` (a probe file set, tried, cleared):
 * undefined if it can, else why not, in words naming the file system or the missing privilege.
 */
export async function immutableRefusal(root: string, signal?: AbortSignal): Promise<string | undefined> {
  throwIfAborted(signal)
  const probe = join(root, `${TEMP_PREFIX}immutable-${randomBytes(8).toString('hex')}`)
  await (await open(probe, 'wx', FILE_MODE)).close()
  try {
    try {
      await chattr('+i', [probe], signal)
    } catch (error) {
      return refusalOf(error)
    }
    // Set: even our own unlink must now fail, else the attribute means nothing here.
    const removed = await unlink(probe).then(
      () => true,
      () => false,
    )
    if (removed) return 'the file system accepted the immutable attribute but still let the file be deleted'
    await chattr('-i', [probe], signal)
    return undefined
  } finally {
    await unlink(probe).catch(() => undefined)
  }
}

function refusalOf(error: unknown): string {
  const said = errorMessage(error)
  if ((error as { cause?: { code?: unknown } }).cause?.code === 'ENOENT')
    return 'chattr (e2fsprogs) is not installed'
  if (/not permitted/i.test(said))
    return 'this process may not set the immutable attribute (it needs root, or CAP_LINUX_IMMUTABLE)'
  if (/not supported|inappropriate ioctl/i.test(said))
    return 'its file system does not support the immutable attribute (ext4, XFS and btrfs do)'
  return `chattr +i failed: ${said}`
}

/** The ObjectLock of a LocalStore: dates kept beside the objects, the attribute set and cleared batched. */
export class LocalObjectLock implements ObjectLock {
  #refusal: string | undefined

  constructor(
    readonly root: string,
    readonly storeName: string,
    readonly pathOf: (key: string) => string,
    readonly attributes: AttributeBatcher,
  ) {}

  get refusal(): string | undefined {
    return this.#refusal
  }

  async enabled(options: CallOptions = {}): Promise<boolean> {
    await mkdir(this.root, { recursive: true, mode: 0o700 })
    this.#refusal = await immutableRefusal(this.root, options.signal)
    return this.#refusal === undefined
  }

  async retention(key: string, options: CallOptions = {}): Promise<Retention | undefined> {
    const path = await this.#existing(key, options.signal)
    return readUntil(path).catch((error: unknown) => {
      throw fsError(error, `cannot read the date of '${key}' in ${this.storeName}`)
    })
  }

  async extend(key: string, retention: Retention, options: CallOptions = {}): Promise<void> {
    const path = await this.#existing(key, options.signal)
    await this.retain(path, key, retention)
  }

  /** Keeps the date beside the object at `path`, then makes it immutable (if it was not already). */
  async retain(path: string, key: string, retention: Retention): Promise<void> {
    await raiseUntil(path, retention).catch((error: unknown) => {
      throw fsError(error, `cannot keep the date of '${key}' in ${this.storeName}`)
    })
    await this.attributes.apply('+i', path)
  }

  /**
   * The object at `path` refused its unlink (EPERM: immutable): cleared and deleted if its date has
   * passed, else OBJECT_LOCKED naming it.
   */
  async deleteImmutable(path: string, key: string): Promise<void> {
    const kept = await readUntil(path).catch(() => undefined)
    if (kept === undefined || kept.until.getTime() > Date.now()) {
      const until =
        kept === undefined ? 'no date kept beside it' : `retained until ${kept.until.toISOString()}`
      throw new StorageError('OBJECT_LOCKED', `'${key}' in ${this.storeName} is immutable: ${until}`, {
        details: { permanent: true, ...(kept && { until: kept.until.toISOString() }) },
      })
    }
    await this.attributes.apply('-i', path)
    await unlink(path)
  }

  async #existing(key: string, signal?: AbortSignal): Promise<string> {
    throwIfAborted(signal)
    const path = this.pathOf(key)
    const info = await lstat(path).catch(() => undefined)
    if (info === undefined || !info.isFile())
      throw new StorageError('NOT_FOUND', `object '${key}' not found in ${this.storeName}`)
    return path
  }
}
