// The agent's side of a download the server asked for: a second WebSocket of its own (pinned TLS, its
// token) to the server's stream path for that single-use id, on which it sends the disk of a restore
// point as a VHD, read from the repository here, as it is read, or files of its filesystems out of the
// agent's file restore session of that disk (agent-files.ts): one file as itself, else an archive. Each frame is sent (the socket took it)
// before the next bytes are read: a slow browser at the far end slows the reading here, and nothing is
// buffered beyond a frame or two. At most MAX_AGENT_DOWNLOADS at once; more are refused.
import { Writable } from 'node:stream'
import { WebSocket } from 'ws'
import { planDiskVhd, diskVhdBytes } from '../disks/index.js'
import { openRepositoryFromEnv } from '../open/index.js'
import { DiskReader, resolvePoint } from '../repository/index.js'
import { errorCode, errorMessage } from '../shared/index.js'
import { prepareDownload } from '../restore/index.js'
import { AgentError, AgentMessageError } from './agent-errors.js'
import { connectPinned } from './pinned-socket.js'
import {
  AGENT_DOWNLOAD_PATH,
  DOWNLOAD_FRAME_BYTES,
  type DownloadFrame,
  type DownloadOrder,
  type DownloadToAgent,
} from './protocol-download.js'
import { openForAgent } from './seal.js'
import type { AgentFileSessions } from './agent-files.js'

export const MAX_AGENT_DOWNLOADS = 3
/** Blocks read ahead of the stream, as the server's own download route does. */
const READ_AHEAD = 4

export interface DownloadLinkOptions {
  readonly serverUrl: string
  /** The agent's data directory: NAS remotes mount under it. */
  readonly dataDir: string
  readonly token: string
  readonly fingerprint: string
  readonly signal: AbortSignal
  readonly log: (line: string) => void
}

export class AgentDownloads {
  #active = 0

  constructor(
    readonly o: DownloadLinkOptions,
    /** The file browsing sessions a file download reads from (shared with browsing). */
    readonly files?: AgentFileSessions,
  ) {}

  /** The server's order: opened with the agent's key (the id bound in), then streamed in the background. */
  handle(m: DownloadToAgent, key: Buffer | undefined): void {
    if (key === undefined) throw new AgentMessageError('a download before the welcome')
    const order = openForAgent(key, m.id, m.sealed) as DownloadOrder
    this.#active++
    void this.#stream(m.id, order)
      .catch((error: unknown) => this.o.log(`download ${m.id.slice(0, 8)}… stopped: ${errorMessage(error)}`))
      .finally(() => this.#active--)
  }

  async #stream(id: string, order: DownloadOrder): Promise<void> {
    const ws = await this.#open(id)
    const stop = new AbortController()
    ws.on('close', () => stop.abort(new AgentMessageError('the download stream closed')))
    const signal = AbortSignal.any([stop.signal, this.o.signal])
    try {
      if (this.#active > MAX_AGENT_DOWNLOADS)
        return await frame(ws, {
          type: 'error',
          code: 'TOO_MANY_DOWNLOADS',
          message: `the agent runs ${MAX_AGENT_DOWNLOADS} downloads already`,
        })
      const streamed =
        order.files === undefined
          ? await this.#disk(ws, order, signal)
          : await this.#files(ws, order, order.files, signal)
      if (!streamed) return
      await frame(ws, { type: 'end' })
      ws.close(1000, 'done')
    } catch (error) {
      ws.terminate() // a stream without its 'end': the server cuts its answer short
      throw error
    }
  }

  /** The point's disk as a VHD; false when refused before any byte (an 'error' frame sent). */
  async #disk(ws: WebSocket, order: DownloadOrder, signal: AbortSignal): Promise<boolean> {
    // Closed on every path: its cached chunks go back to the shared memory (shared/shared-memory.ts).
    using reader = await this.#reader(order, signal).catch(refused(ws))
    if (reader === undefined) return false
    const plan = planDiskVhd(reader)
    const name = `${order.pointId.replace(/[^A-Za-z0-9._-]/g, '_')}-disk${order.disk}.vhd`
    await frame(ws, { type: 'head', length: plan.length, name })
    for await (const bytes of diskVhdBytes(reader, plan, READ_AHEAD, signal)) await sendBytes(ws, bytes)
    return true
  }

  /** Files of the disk's filesystems: one as itself, else an archive made as it streams. */
  async #files(
    ws: WebSocket,
    order: DownloadOrder,
    request: NonNullable<DownloadOrder['files']>,
    signal: AbortSignal,
  ): Promise<boolean> {
    const prepared = await (async () => {
      if (this.files === undefined)
        throw new AgentError('AGENT_OP_UNKNOWN', 'this agent does not restore files')
      const target = { ...order.repository, env: order.env }
      const session = await this.files.get(target, order.pointId, order.disk)
      return prepareDownload(session, request, signal)
    })().catch(refused(ws))
    if (prepared === undefined) return false
    const { name, length, format } = prepared
    await frame(ws, { type: 'head', name, ...(length === undefined ? { format: format! } : { length }) })
    await prepared.write(frameWriter(ws), signal)
    return true
  }

  async #reader(order: DownloadOrder, signal: AbortSignal): Promise<DiskReader> {
    const repository = await openRepositoryFromEnv(order.repository.location, {
      // NAS remotes are mounted under the agent's data directory, as for its runs and requests.
      env: { ...order.env, STRATA_HOME: this.o.dataDir },
      ...(order.repository.expected === undefined ? {} : { expected: order.repository.expected }),
      signal,
    })
    const ref = await resolvePoint(repository, order.pointId, signal)
    return DiskReader.open(repository, ref, order.disk, signal)
  }

  async #open(id: string): Promise<WebSocket> {
    const url = new URL(`${AGENT_DOWNLOAD_PATH}${id}`, this.o.serverUrl)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const socket = await connectPinned(
      { host, port: Number(url.port || 443), fingerprint: this.o.fingerprint },
      this.o.signal,
    )
    const ws = new WebSocket(url.href.replace(/^https:/, 'wss:'), {
      createConnection: () => socket,
      headers: { authorization: `Bearer ${this.o.token}` },
      perMessageDeflate: false,
      handshakeTimeout: 15_000,
    })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) =>
        reject(new AgentMessageError(`the server refused the download stream: HTTP ${res.statusCode}`)),
      )
    })
    ws.on('error', () => undefined) // the close that follows says it
    return ws
  }
}

const frame = (ws: WebSocket, f: DownloadFrame): Promise<void> => sent(ws, JSON.stringify(f))

/** A refusal before any byte: said in an 'error' frame (the server answers it with its status). */
const refused =
  (ws: WebSocket) =>
  async (error: unknown): Promise<undefined> => {
    await frame(ws, { type: 'error', code: errorCode(error), message: errorMessage(error) })
    return undefined
  }

/** Bytes in frames of at most DOWNLOAD_FRAME_BYTES, each handed to the socket before the next. */
async function sendBytes(ws: WebSocket, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; at += DOWNLOAD_FRAME_BYTES)
    // A copy: the block's bytes may be lent by the reader, and a client's frames are masked.
    await sent(ws, Buffer.from(bytes.subarray(at, at + DOWNLOAD_FRAME_BYTES)))
}

/** A stream's writes as binary frames, each written once the socket took the one before (backpressure). */
function frameWriter(ws: WebSocket): Writable {
  return new Writable({
    write: (chunk: Buffer, _encoding, done) =>
      void sendBytes(ws, chunk).then(
        () => done(),
        (error: unknown) => done(error as Error),
      ),
  })
}

/** Resolves once the socket took the frame: the next bytes are read only then. */
function sent(ws: WebSocket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) =>
    ws.send(data, (error) => (error === undefined || error === null ? resolve() : reject(error))),
  )
}
