// A TCP relay between an agent and its server whose connections a test can cut: every connection is
// destroyed and new ones are refused for a while (the link down), then the relay passes again.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

export interface TcpRelay {
  readonly url: string
  cut(ms: number): void
  close(): void
}

export async function startRelay(target: URL): Promise<TcpRelay> {
  const sockets = new Set<Socket>()
  let downUntil = 0
  const listener = createServer((inbound) => {
    if (Date.now() < downUntil) return inbound.destroy() // the link is still down
    const outbound = connect(Number(target.port), target.hostname)
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      sockets.add(a)
      a.on('error', () => b.destroy())
      a.on('close', () => b.destroy())
      a.pipe(b)
    }
  })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  return {
    url: `https://127.0.0.1:${(listener.address() as AddressInfo).port}`,
    cut: (ms) => {
      downUntil = Date.now() + ms
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    close: () => listener.close(),
  }
}
