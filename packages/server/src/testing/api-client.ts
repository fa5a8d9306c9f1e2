// A small client for tests: JSON requests with the session cookie kept between calls. Bodies are `any`
// by default because tests probe arbitrary and malformed answers field by field.
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface ApiResponse<T = unknown> {
  readonly status: number
  readonly body: T
  readonly headers: Headers
}

export class ApiClient {
  cookie: string | undefined
  /** Sent with every request (tests set X-Forwarded-For, or drop the CSRF header with an empty one). */
  extraHeaders: Record<string, string> = {}

  constructor(
    readonly base: string,
    readonly token?: string,
  ) {}

  async request<T = any>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    // As the web UI: changes made with the session cookie carry the CSRF header.
    const headers: Record<string, string> = { 'x-strata-request': '1', ...this.extraHeaders }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.cookie !== undefined) headers.cookie = this.cookie
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    })
    const set = response.headers.get('set-cookie')
    if (set !== null) this.cookie = set.split(';')[0]
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T, headers: response.headers }
  }

  get = <T = any>(path: string) => this.request<T>('GET', path)
  post = <T = any>(path: string, body?: unknown) => this.request<T>('POST', path, body ?? {})
  patch = <T = any>(path: string, body: unknown) => this.request<T>('PATCH', path, body)
  delete = <T = any>(path: string, body?: unknown) => this.request<T>('DELETE', path, body)

  async login(username: string, password: string, totp?: string): Promise<ApiResponse<any>> {
    return this.post(
      '/api/auth/login',
      totp === undefined ? { username, password } : { username, password, totp },
    )
  }
}
