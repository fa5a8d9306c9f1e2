// A run's connection to one pool: an XAPI session and the object cache (from event.from) that smart
// selection reads. Opened at the start of a run, closed at its end, on success and on failure.
import { XapiClient, XapiEventLoop, type ObjectCache } from '../xapi/index.js'
import { StrataError } from '../shared/index.js'
import type { PoolConnection } from './job.js'

export interface PoolSession {
  readonly poolId: string
  /** The pool's uuid: the key of its shared limits. */
  readonly uuid: string
  readonly xapi: XapiClient
  readonly cache: Pick<ObjectCache, 'all'>
  close(): Promise<void>
}

/**
 * The pool's client, not yet logged in (it logs in on its first call): pinned to pool.fingerprint; an
 * http:// URL without insecureHttp throws here, before any connection.
 */
export function poolClient(pool: PoolConnection, env: Record<string, string | undefined>): XapiClient {
  const password = pool.password ?? env.STRATA_XAPI_PASSWORD
  if (password === undefined)
    throw new StrataError('NO_PASSWORD', `no password for pool '${pool.id}': set STRATA_XAPI_PASSWORD`)
  return new XapiClient({
    url: pool.url,
    user: pool.user,
    password,
    originator: 'strata',
    fingerprint: pool.fingerprint,
    insecureHttp: pool.insecureHttp,
  })
}

export async function connectPool(
  pool: PoolConnection,
  env: Record<string, string | undefined>,
  signal: AbortSignal,
): Promise<PoolSession> {
  const xapi = poolClient(pool, env)
  const events = new XapiEventLoop(xapi)
  try {
    await xapi.connect(signal)
    events.subscribe('pool', 'vm')
    await events.ready(signal)
    const [poolRecord] = events.cache.all('pool').values()
    return {
      poolId: pool.id,
      uuid: String(poolRecord?.uuid ?? pool.url),
      xapi,
      cache: events.cache,
      close: async () => {
        await events.stop()
        await xapi.close()
      },
    }
  } catch (error) {
    await events.stop().catch(() => undefined)
    await xapi.close().catch(() => undefined)
    throw error
  }
}
