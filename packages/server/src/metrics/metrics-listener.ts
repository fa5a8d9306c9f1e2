// The separate metrics address (`metrics: { listen: '127.0.0.1:9470' }` in the server's configuration):
// GET /metrics without authentication, for a Prometheus that cannot hold a token, and nothing else
// (every other path 404, every other method 405). The admin chooses who can reach that address (the
// loopback, a management network); the API's own address keeps /metrics private.
import { createServer, type Server } from 'node:http'
import { errorMessage, StrataError } from '@strata/core'
import type { ListenAddress } from '../config.js'
import type { ServerLog } from '../server-log.js'
import type { Metrics } from './metrics.js'

export interface MetricsListener {
  readonly url: string
  close(): Promise<void>
}

export async function listenForMetrics(
  address: ListenAddress,
  metrics: Metrics,
  log: ServerLog,
): Promise<MetricsListener> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== '/metrics')
      return void response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return void response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end()
    metrics.text().then(
      (text) => {
        response.writeHead(200, { 'content-type': metrics.contentType })
        response.end(request.method === 'HEAD' ? undefined : text)
      },
      (error: unknown) => {
        log.error(`metrics could not be collected: ${errorMessage(error)}`)
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n')
      },
    )
  })
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    const refused = (error: Error) =>
      reject(
        new StrataError(
          'METRICS_LISTEN_FAILED',
          `the metrics address ${address.host}:${address.port} cannot be used (metrics.listen): ${errorMessage(error)}`,
          { cause: error },
        ),
      )
    server.once('error', refused)
    server.listen(address.port, address.host, () => {
      server.off('error', refused)
      resolve()
    })
  })
  const bound = server.address()
  const port = typeof bound === 'object' && bound !== null ? bound.port : address.port
  const url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}/metrics`
  log.info(`metrics without authentication on ${url}`)
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
