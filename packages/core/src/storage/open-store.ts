// The one place where a store is assembled: the concrete store from a location, then the wrappers,
// always in the same order (outermost first):
//   LoggingStore → RetryingStore → LimitedStore → LocalStore | S3Store
// Logging sees one line per call plus one per retry; retries wait outside the concurrency slots.
import { errorCode, errorMessage, retry, throwIfAborted } from '../shared/index.js'
import { LimitedStore, type LimitedStoreOptions } from './limited-store.js'
import { LocalStore } from './local-store.js'
import { parseLocation, type Env } from './location.js'
import { LoggingStore, type StoreLogger } from './logging-store.js'
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
  readonly signal?: AbortSignal
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
    store = new LocalStore(parsed.path)
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
