// One HTTP listener per lab host, routed like xapi: POST /jsonrpc → JSON-RPC, any other POST →
// XML-RPC, the data handlers and /pool/xmldbdump (with or without a trailing slash, as XO sends them),
// everything else 404.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { Dispatcher } from '../api/dispatcher.js'
import type { LabState } from '../api/lab-state.js'
import { handleExportRaw } from './export-raw.js'
import { handleImportRaw } from './import-raw.js'
import { handleJsonRpc, htmlError } from './json-rpc.js'
import { handleXmlRpc } from './xml-rpc.js'
import { handleDumpDatabase, handleRestoreDatabase } from './xmldbdump.js'
import { handleExportXva } from '../xva/export-xva.js'
import { handleImportXva } from '../xva/import-xva.js'

export interface HostListener {
  /** The host ref this listener is. */
  host: string
  /** Address of the other host for 302 redirects (undefined: no redirect possible). */
  redirectTo?: () => string | undefined
}

export function createHostServer(
  lab: LabState,
  dispatcher: Dispatcher,
  me: HostListener,
  tls?: { cert: string; key: string },
): Server {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://lab')
    const path = url.pathname.replace(/\/$/, '') || '/'
    const route = `${req.method} ${path}`
    const isData = ['GET /export_raw_vdi', 'PUT /import_raw_vdi'].includes(route)
    if (isData) {
      const fault = lab.faults.takeHttp(path, true)
      const other = fault?.kind === 'redirect' ? (fault.to ?? me.redirectTo?.()) : undefined
      if (other !== undefined) {
        const host = req.headers.host?.replace(/^[^:]+|^\[[^\]]+\]/, other) ?? other
        res.writeHead(302, {
          location: `${tls === undefined ? 'http' : 'https'}://${host}${req.url}`,
          connection: 'close',
        })
        res.end()
        return
      }
    }
    const done = (p: Promise<void>): void =>
      void p.catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) htmlError(res, 500, String(error))
        else req.socket.destroy()
      })
    switch (route) {
      case 'POST /jsonrpc':
        return done(handleJsonRpc(dispatcher, me.host, req, res))
      case 'GET /export_raw_vdi':
        return done(handleExportRaw(lab, me.host, req, res, url))
      case 'PUT /import_raw_vdi':
        return done(handleImportRaw(lab, me.host, req, res, url))
      case 'GET /export':
        return done(handleExportXva(lab, me.host, req, res, url))
      case 'PUT /import':
        return done(handleImportXva(lab, me.host, req, res, url))
      case 'GET /pool/xmldbdump':
        return done(handleDumpDatabase(lab, me.host, req, res, url))
      case 'PUT /pool/xmldbdump':
        return done(handleRestoreDatabase(lab, me.host, req, res, url))
      default:
        // Any other POST is XML-RPC (xapi routes by longest prefix: /, /RPC2, /xmlrpc…).
        if (req.method === 'POST') return done(handleXmlRpc(dispatcher, me.host, req, res))
        return htmlError(res, 404, `no handler for ${req.method} ${path}`)
    }
  }
  const server = tls === undefined ? createServer(handler) : createTlsServer(tls, handler)
  server.keepAliveTimeout = 5000
  // Uploads of big disks take longer than Node's default 5-minute limit for receiving a request.
  server.requestTimeout = 0
  return server
}
