// An admin session on a server that serves HTTPS with its own certificate, pinned by its fingerprint
// (as an agent pins it): the agents' tests talk to the API through this.
import { httpsRequest } from '../../testing/https-client.js'
import { until } from '../../testing/lab-job.js'

export interface PinnedAdmin {
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>
}

export async function pinnedAdmin(
  url: string,
  pin: string,
  password: string,
  username = 'admin',
): Promise<PinnedAdmin> {
  const login = await httpsRequest(
    `${url}/api/auth/login`,
    { pin },
    {
      method: 'POST',
      body: { username, password },
    },
  )
  const set = login.headers['set-cookie']
  const cookie = (Array.isArray(set) ? set[0]! : String(set)).split(';')[0]!
  return {
    async request(method, path, body) {
      const answer = await httpsRequest(
        `${url}${path}`,
        { pin },
        {
          method,
          body,
          headers: { cookie, 'x-strata-request': '1' },
        },
      )
      return { status: answer.status, body: answer.body === '' ? undefined : JSON.parse(answer.body) }
    },
  }
}

/** What `lab serve --json` (or a LabPool) says of the pool: enough to add it. */
export interface SitePool {
  readonly url: string
  readonly user: string
  readonly password: string
  readonly fingerprint: string
}

/** Adds the lab pool as 'site-b' (pinned by its fingerprint) and answers its id; a refusal throws. */
export async function addSitePool(admin: PinnedAdmin, lab: SitePool): Promise<string> {
  const pool = await admin.request<{ id: string }>('POST', '/api/pools', {
    name: 'site-b',
    url: lab.url,
    username: lab.user,
    password: lab.password,
    fingerprint: lab.fingerprint,
  })
  if (pool.status !== 201) throw new Error(`adding the pool: ${pool.status} ${JSON.stringify(pool.body)}`)
  return pool.body.id
}

/** Waits until the first agent the server lists is online (the tests that make one agent). */
export async function firstAgentOnline(admin: PinnedAdmin, timeoutMs = 30_000): Promise<void> {
  await until(
    'the agent online',
    async () =>
      (await admin.request<{ state: string }[]>('GET', '/api/agents')).body[0]?.state === 'online' ||
      undefined,
    timeoutMs,
  )
}
