// A raw HTTP/1.1 exchange over a socket, for tests that send what fetch would normalise: absolute-form
// targets (`POST http://host/api/users HTTP/1.1`), dot segments, doubled slashes.
import { connect } from 'node:net'

export interface RawResponse {
  readonly status: number
  readonly headers: string
  readonly body: string
}

export async function rawRequest(
  url: string,
  method: string,
  target: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  const body = options.body ?? ''
  const headers = {
    host: `${hostname}:${port}`,
    connection: 'close',
    ...(body === '' ? {} : { 'content-type': 'application/json', 'content-length': String(body.length) }),
    ...options.headers,
  }
  const head = [`${method} ${target} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const parts: Buffer[] = []
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer to ${method} ${target}`)))
    socket.on('data', (d: Buffer) => parts.push(d))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(parts).toString('utf8')))
    // write, not end: a half-closed socket makes Node drop the answer of a request still being handled
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`)
  })
  const end = text.indexOf('\r\n\r\n')
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
  return { status, headers: text.slice(0, end), body: end === -1 ? '' : text.slice(end + 4) }
}
