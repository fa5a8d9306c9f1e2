// POST / (and /RPC2, /xmlrpc: xapi routes by longest prefix): XML-RPC as xapi speaks it. Requests
// accept typed and untyped values; responses are a struct {Status, Value | ErrorDescription} with ints
// as untyped strings; system.listMethods answers the bare array. Malformed XML gets an HTML 500.
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  decodeXmlRpcValue,
  encodeXmlRpcValue,
  escapeXml,
  unescapeXml,
  type XmlRpcValue,
} from '@strata/core/xapi'
import type { Dispatcher } from '../api/dispatcher.js'
import { toFailure } from '../db/failure.js'
import { htmlError } from './json-rpc.js'

export function parseMethodCall(xml: string): { method: string; params: XmlRpcValue[] } {
  const name = /<methodName>([^<]*)<\/methodName>/.exec(xml)
  if (name === null) throw new Error('no methodName')
  const params = /<params>([\s\S]*)<\/params>/.exec(xml)?.[1] ?? ''
  // The params are a sequence of <param><value>…</value></param>: read them as one array value.
  const asArray = `<value><array><data>${params.replace(/<\/?param>/g, '')}</data></array></value>`
  return { method: unescapeXml(name[1]!.trim()), params: decodeXmlRpcValue(asArray) as XmlRpcValue[] }
}

export function encodeResponse(method: string, outcome: { result: unknown } | { error: string[] }): string {
  let value: string
  if ('error' in outcome) {
    value = encodeXmlRpcValue({ Status: 'Failure', ErrorDescription: outcome.error })
  } else if (method === 'system.listMethods') {
    value = encodeXmlRpcValue(outcome.result as XmlRpcValue)
  } else {
    value = `<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${encodeXmlRpcValue(
      (outcome.result ?? '') as XmlRpcValue,
    )}</member></struct></value>`
  }
  return `<?xml version="1.0"?><methodResponse><params><param>${value}</param></params></methodResponse>`
}

export async function handleXmlRpc(
  dispatcher: Dispatcher,
  host: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
  let call: { method: string; params: XmlRpcValue[] }
  try {
    call = parseMethodCall(Buffer.concat(chunks).toString('utf8'))
  } catch (error) {
    return htmlError(res, 500, `Xmlrpc.Parse_error(${escapeXml(String(error))})`)
  }
  const closed = new AbortController()
  res.on('close', () => closed.abort())
  let body: string
  try {
    const result = await dispatcher.dispatch(call.method, call.params, host, closed.signal)
    body = encodeResponse(call.method, { result })
  } catch (error) {
    const f = toFailure(error)
    body = encodeResponse(call.method, { error: [f.code, ...f.params] })
  }
  if (res.destroyed) return
  res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
