// A scripted NBD server for tests: a correct handshake, then whatever the test wants to answer to each
// request, byte by byte (bad magic, unknown handles, short or oversized replies, silence...).
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { ByteQueue } from '../byte-queue.js'
import { FLAG_FIXED_NEWSTYLE, Opt, Rep, RepErr, REQUEST_SIZE, TFlag } from '../codec/constants.js'
import {
  decodeOptionHeader,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoExport,
  encodeMetaContextReply,
  encodeOptionReply,
  OPTION_HEADER_SIZE,
} from '../codec/handshake.js'
import { decodeRequest, type WireRequest } from '../codec/transmission.js'

export interface ScriptContext {
  readonly socket: Socket
  /** 0 for the first connection, 1 for the next... */
  readonly connection: number
  /** 0 for the first request of this connection. */
  readonly index: number
}

export interface ScriptedServerOptions {
  size: number
  structured?: boolean
  /** Do not even send the greeting. */
  silent?: boolean
  onRequest(request: WireRequest, ctx: ScriptContext): void
}

export interface ScriptedServer {
  readonly port: number
  readonly connections: number
  close(): Promise<void>
}

export async function startScriptedServer(options: ScriptedServerOptions): Promise<ScriptedServer> {
  const sockets = new Set<Socket>()
  let connections = 0
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    void session(socket, connections++, options).catch(() => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections
    },
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

async function session(socket: Socket, connection: number, options: ScriptedServerOptions): Promise<void> {
  if (options.silent === true) return
  const queue = new ByteQueue()
  socket.on('data', (chunk: Buffer) => queue.consume(chunk))
  socket.on('close', () => queue.end(new Error('closed')))
  socket.write(encodeGreeting(FLAG_FIXED_NEWSTYLE))
  await queue.read(4)
  const flags = TFlag.HAS_FLAGS | TFlag.READ_ONLY | TFlag.CAN_MULTI_CONN
  for (;;) {
    const { option, length } = decodeOptionHeader(await queue.read(OPTION_HEADER_SIZE))
    await queue.read(length)
    if (option === Opt.EXPORT_NAME) {
      socket.write(encodeExportNameReply(options.size, flags, false))
      break
    }
    if (option === Opt.STRUCTURED_REPLY && options.structured === true) {
      socket.write(encodeOptionReply(option, Rep.ACK))
    } else if (option === Opt.SET_META_CONTEXT && options.structured === true) {
      socket.write(encodeOptionReply(option, Rep.META_CONTEXT, encodeMetaContextReply(1, 'base:allocation')))
      socket.write(encodeOptionReply(option, Rep.ACK))
    } else if (option === Opt.GO && options.structured === true) {
      socket.write(encodeOptionReply(option, Rep.INFO, encodeInfoExport(options.size, flags)))
      socket.write(encodeOptionReply(option, Rep.ACK))
      break
    } else socket.write(encodeOptionReply(option, RepErr.UNSUP))
  }
  for (let index = 0; ; index++) {
    const request = decodeRequest(await queue.read(REQUEST_SIZE))
    options.onRequest(request, { socket, connection, index })
  }
}
