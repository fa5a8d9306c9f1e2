// An HTTP server on loopback that receives webhooks in tests: every request with its headers and raw
// body, and the answers to give, in order (then 200).
import { createServer, type IncomingHttpHeaders } from 'node:http'

export interface ReceivedHook {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly at: number
}

export interface WebhookReceiver {
  readonly url: string
  readonly received: ReceivedHook[]
  /** Status codes for the next requests, first first. */
  readonly answers: number[]
  next(after?: number, timeoutMs?: number): Promise<ReceivedHook>
  close(): Promise<void>
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = []
  const answers: number[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (c: Buffer) => chunks.push(c))
    request.on('end', () => {
      received.push({
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      })
      response.writeHead(answers.shift() ?? 200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/hooks/strata`,
    received,
    answers,
    async next(after = received.length, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      while (received[after] === undefined) {
        if (Date.now() > deadline) throw new Error(`no webhook came within ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return received[after]!
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
