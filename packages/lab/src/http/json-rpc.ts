// POST /jsonrpc: JSON-RPC v1 and v2 as xapi speaks them. API failures travel in HTTP 200 responses
// (v2: {code: 1, message: CODE, data: [params]}; v1: error = [CODE, params…]); malformed requests get
// an HTML 500 like xapi's.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from '../api/dispatcher.js'
import { toFailure } from '../db/failure.js'

const MAX_BODY = 64 * 1024 * 1024

export async function handleJsonRpc(
  dispatcher: Dispatcher,
  host: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const text = await readBody(req)
  let call: { jsonrpc?: string; id?: unknown; method?: unknown; params?: unknown }
  try {
    call = JSON.parse(text) as typeof call
  } catch {
    return htmlError(res, 500, `Jsonrpc.Malformed_method_request(${text.slice(0, 100)})`)
  }
  if (call.id === undefined || call.id === null || typeof call.method !== 'string') {
    return htmlError(res, 500, 'Jsonrpc.Malformed_method_request')
  }
  const v2 = call.jsonrpc === '2.0'
  const params = Array.isArray(call.params) ? call.params : call.params == null ? [] : [call.params]
  const closed = new AbortController()
  res.on('close', () => closed.abort())
  let body: unknown
  try {
    const result = await dispatcher.dispatch(call.method, params, host, closed.signal)
    body = v2 ? { jsonrpc: '2.0', result, id: call.id } : { result, error: null, id: call.id }
  } catch (error) {
    const f = toFailure(error)
    body = v2
      ? { jsonrpc: '2.0', error: { code: 1, message: f.code, data: f.params }, id: call.id }
      : { result: null, error: [f.code, ...f.params], id: call.id }
  }
  if (res.destroyed) return
  const json = JSON.stringify(body)
  res.writeHead(200, {
    'content-type': 'application/json',
    'access-control-allow-origin': '*',
    'content-length': Buffer.byteLength(json),
  })
  res.end(json)
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if ((size += chunk.length) > MAX_BODY) throw new Error('request too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export function htmlError(
  res: ServerResponse,
  status: number,
  info: string,
  headers: Record<string, string> = {},
): void {
  const body = `<html><body><h1>HTTP ${status}</h1>An unexpected error occurred. <h1> Additional information </h1>${info.replace(/</g, '&lt;')}</body></html>`
  res.writeHead(status, { 'content-type': 'text/html', connection: 'close', ...headers })
  res.end(body)
}
