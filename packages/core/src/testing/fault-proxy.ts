// A fault-injecting HTTP reverse proxy for tests of network clients (the S3 store first). A plan
// decides per request: pass through, answer an error status (500, 503 SlowDown), reset the connection
// before or after the request reached the server, truncate the response body, or delay the answer.
// Host headers are forwarded unchanged, so signed requests (S3 SigV4) stay valid.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly code?: string }
  /** 'before': the server never sees the request; 'after': it processed it, the answer is lost. */
  | { readonly kind: 'reset'; readonly when: 'before' | 'after' }
  /** Sends the real headers (Content-Length included) but only `keep` bytes of the body, then cuts. */
  | { readonly kind: 'truncate'; readonly keep?: number }
  | { readonly kind: 'delay'; readonly ms: number }
  /** Forwards only `keep` bytes of the request body to the server, then cuts both connections. */
  | { readonly kind: 'cut-upload'; readonly keep: number }

export interface ProxiedRequest {
  readonly n: number
  readonly method: string
  readonly path: string
  readonly fault: Fault | undefined
}

/** Chooses the fault of each request (undefined: pass through). `n` counts from 0. */
export type FaultPlan = (request: ProxiedRequest) => Fault | undefined

export interface FaultProxy {
  /** e.g. 'http://127.0.0.1:43210': use it as the client's endpoint. */
  readonly url: string
  readonly requests: readonly ProxiedRequest[]
  plan: FaultPlan
  /** How many requests (from number `since` on) got each kind of fault ('status:503', 'reset:after', ...). */
  counts(since?: number): Record<string, number>
  close(): Promise<void>
}

export async function startFaultProxy(
  target: string,
  plan: FaultPlan = () => undefined,
): Promise<FaultProxy> {
  const upstream = new URL(target)
  const requests: ProxiedRequest[] = []
  const sockets = new Set<Socket>()
  const proxy: FaultProxy = {
    url: '',
    requests,
    plan,
    counts: (since = 0) => countFaults(requests.slice(since)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
  const server = createServer((req, res) => {
    const base = { n: requests.length, method: req.method ?? 'GET', path: req.url ?? '/', fault: undefined }
    const entry = { ...base, fault: proxy.plan(base) }
    requests.push(entry)
    void handle(req, res, entry.fault, upstream).catch(() => req.socket.destroy())
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const close = proxy.close
  proxy.close = async () => {
    for (const socket of sockets) socket.destroy()
    await close()
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  ;(proxy as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return proxy
}

async function handle(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined, upstream: URL) {
  if (fault?.kind === 'status') return answerError(req, res, fault.status, fault.code)
  if (fault?.kind === 'reset' && fault.when === 'before') return req.socket.destroy()
  if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms))
  if (fault?.kind === 'cut-upload') return cutUpload(req, upstream, fault.keep)
  const answer = await forward(req, upstream)
  if (fault?.kind === 'reset') {
    answer.resume()
    return req.socket.destroy()
  }
  res.writeHead(answer.statusCode ?? 502, answer.headers)
  if (fault?.kind === 'truncate') return truncate(answer, res, fault.keep ?? 0)
  answer.pipe(res)
}

function forward(req: IncomingMessage, upstream: URL): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      resolve,
    )
    out.on('error', reject)
    req.pipe(out)
  })
}

function cutUpload(req: IncomingMessage, upstream: URL, keep: number): void {
  const out = httpRequest({
    host: upstream.hostname,
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers: req.headers,
  })
  out.on('error', () => undefined)
  let sent = 0
  req.on('data', (chunk: Buffer) => {
    const part = chunk.subarray(0, Math.max(0, keep - sent))
    sent += part.length
    if (part.length > 0) out.write(part)
    if (sent >= keep) {
      req.pause()
      // Give the server the partial body, then vanish mid-request on both sides.
      setTimeout(() => {
        out.destroy()
        req.socket.destroy()
      }, 50)
    }
  })
}

/** Drains the request body first: answering early would make the client fail while sending. */
function answerError(req: IncomingMessage, res: ServerResponse, status: number, code = 'InternalError') {
  req.resume()
  req.once('end', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected</Message></Error>`
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
}

function truncate(answer: IncomingMessage, res: ServerResponse, keep: number): void {
  let sent = 0
  answer.on('data', (chunk: Buffer) => {
    if (sent >= keep) return
    const part = chunk.subarray(0, keep - sent)
    sent += part.length
    res.write(part)
  })
  answer.once('end', () => {
    // Let the partial body leave before cutting, so the client sees a short body, not just a reset.
    setTimeout(() => res.socket?.destroy(), 20)
  })
}

function countFaults(requests: readonly ProxiedRequest[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const { fault } of requests) {
    if (fault === undefined) continue
    const name =
      fault.kind === 'status'
        ? `status:${fault.status}`
        : fault.kind === 'reset'
          ? `reset:${fault.when}`
          : fault.kind
    counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}

/** A plan that gives the first requests the listed faults, in order, then passes everything. */
export function faultsInOrder(...faults: (Fault | undefined)[]): FaultPlan {
  return ({ n }) => faults[n]
}

/** A plan that faults each request with probability `rate`, cycling through `faults`; seeded. */
export function randomFaults(rate: number, faults: readonly Fault[], seed = 1): FaultPlan {
  let state = seed >>> 0 || 1
  const next = (): number => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 2 ** 32
  }
  let i = 0
  return () => (next() < rate ? faults[i++ % faults.length] : undefined)
}
