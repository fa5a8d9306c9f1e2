// The one place where a store is assembled: the concrete store from a location, then the wrappers,
// always in the same order (outermost first):
//   LoggingStore → RetryingStore → LimitedStore → LocalStore | S3Store | NasStore(LocalStore)
// Logging sees one line per call plus one per retry; retries wait outside the concurrency slots.
import { homedir } from 'node:os'
import { join } from 'node:path'
import { errorCode, errorMessage, retry, throwIfAborted } from '../shared/index.js'
import { LimitedStore, type LimitedStoreOptions } from './limited-store.js'
import { LocalStore } from './local-store.js'
import { parseLocation, type Env } from './location.js'
import { LoggingStore, type StoreLogger } from './logging-store.js'
import type { CommandRunner } from './nas/mount-commands.js'
import { mountNas } from './nas/nas-mount.js'
import { nasName, type NasLocation } from './nas/nas-location.js'
import { NasStore } from './nas/nas-store.js'
import { readMountTable } from './nas/mount-table.js'
import { runCommand } from './nas/run-command.js'
import type { ObjectStore } from './object-store.js'
import {
  RetryingStore,
  shouldRetryRead,
  type RetryEvent,
  type RetryingStoreOptions,
} from './retrying-store.js'
import type { S3Store, S3StoreOptions } from './s3-store.js'

export interface OpenStoreOptions extends LimitedStoreOptions {
  readonly logger?: StoreLogger
  readonly retry?: Omit<RetryingStoreOptions, 'onRetry'>
  /** Overrides of the S3 client settings (timeouts, multipart sizes) for S3 locations. */
  readonly s3?: Partial<Omit<S3StoreOptions, 'credentials' | 'bucket'>>
  /** false: never probe create-only puts (the probe writes an object): for stores only read. */
  readonly probe?: boolean
  /** NAS locations (nfs://, smb://): where they are mounted, and the secret Strata mounts with. */
  readonly nas?: NasOpenOptions
  readonly signal?: AbortSignal
}

export interface NasOpenOptions {
  /** The SMB password (the server's sealed secret); else STRATA_SMB_PASSWORD of the credentials. */
  readonly password?: string
  /** Where mount points go (default: $STRATA_HOME/mounts, else ~/.strata/mounts). */
  readonly mountDir?: string
  /** Runs mount.cifs, mount.nfs and umount (tests give their own). */
  readonly runner?: CommandRunner
  /** /proc/self/mountinfo's text (tests give their own). */
  readonly readMountTable?: () => Promise<string>
  /** Whether this process may mount (default: it runs as root). */
  readonly isRoot?: boolean
}

/**
 * Opens the store at `location` (see location.ts for the forms) with its wrappers. For S3 with
 * `conditional=auto` (the default), probes once whether the server enforces create-only puts.
 */
export async function openStore(
  location: string,
  env: Env = process.env,
  options: OpenStoreOptions = {},
): Promise<ObjectStore> {
  throwIfAborted(options.signal)
  const parsed = parseLocation(location, env)
  let store: ObjectStore
  if (parsed.kind === 'local') {
    store = await probed(new LocalStore(parsed.path), options)
  } else if (parsed.kind === 'nas') {
    store = await openNas(parsed.nas, env, options)
  } else {
    // Loaded here, not at the top: local repositories never pay for the AWS SDK.
    const { S3Store } = await import('./s3-store.js')
    const s3 = new S3Store({ ...parsed.s3, ...options.s3 })
    if (parsed.conditional === 'auto' && options.probe !== false) {
      // A store that cannot be opened must not keep its connections.
      await probe(s3, options).catch(async (error: unknown) => {
        await s3.close()
        throw error
      })
    }
    store = s3
  }
  return wrap(store, options)
}

/** Mounts the share (or reuses its mount), then a local store inside it; unmounted again on failure. */
async function openNas(location: NasLocation, env: Env, options: OpenStoreOptions): Promise<ObjectStore> {
  const nas = options.nas ?? {}
  const mount = await mountNas(location, {
    mountDir: nas.mountDir ?? join(env.STRATA_HOME || join(homedir(), '.strata'), 'mounts'),
    runner: nas.runner ?? runCommand,
    readMountTable: nas.readMountTable ?? readMountTable,
    isRoot: nas.isRoot ?? process.getuid?.() === 0,
    user: env.STRATA_SMB_USERNAME,
    password: nas.password ?? env.STRATA_SMB_PASSWORD,
    signal: options.signal,
  })
  try {
    return new NasStore(await probed(new LocalStore(mount.root), options), mount, nasName(location))
  } catch (error) {
    await mount.release().catch(() => undefined)
    throw error
  }
}

/**
 * Probes a local store's file system as it opens (its create mode shows at once); a read-only one
 * (a restore from a write-protected share) stays unprobed: its puts fail anyway. `probe: false` (a
 * store only read, such as another product's remote) is never written to, not even by the probe.
 */
async function probed(store: LocalStore, options: OpenStoreOptions): Promise<LocalStore> {
  if (options.probe === false) return store
  await store.probe({ signal: options.signal }).catch((error: unknown) => {
    if (errorCode(error) !== 'ACCESS_DENIED') throw error
  })
  return store
}

/** Stacks the wrappers on any store; openStore uses it, tests use it on MemoryStore. */
export function wrap(store: ObjectStore, options: OpenStoreOptions = {}): ObjectStore {
  const { logger } = options
  const limited = new LimitedStore(store, options)
  const retrying = new RetryingStore(limited, {
    ...options.retry,
    onRetry: logger && ((e) => logRetry(logger, store.name, e)),
  })
  return logger === undefined ? retrying : new LoggingStore(retrying, logger)
}

/** Probes create-only support; read-only credentials (ACCESS_DENIED) leave the capability off. */
async function probe(s3: S3Store, options: OpenStoreOptions): Promise<void> {
  const { logger, signal } = options
  try {
    await retry(() => s3.probeConditionalCreate({ signal }), {
      retries: options.retry?.retries ?? 5,
      baseDelayMs: options.retry?.baseDelayMs ?? 200,
      maxDelayMs: options.retry?.maxDelayMs,
      signal,
      shouldRetry: shouldRetryRead,
      onRetry:
        logger &&
        ((error, attempt, delayMs) =>
          logRetry(logger, s3.name, { op: 'probe', key: '', attempt, delayMs, error })),
    })
  } catch (error) {
    if (errorCode(error) !== 'ACCESS_DENIED') throw error
    logger?.({
      level: 'warn',
      store: s3.name,
      op: 'probe',
      key: '',
      error: { code: 'ACCESS_DENIED', message: errorMessage(error) },
    })
  }
}

function logRetry(logger: StoreLogger, store: string, e: RetryEvent) {
  const error = e.error as { code?: string; message?: string }
  logger({
    level: 'warn',
    store,
    op: e.op,
    key: e.key,
    attempt: e.attempt,
    delayMs: e.delayMs,
    error: { code: error.code ?? 'UNKNOWN', message: error.message ?? String(e.error) },
  })
}
