// A download's stream from an agent, piped into the HTTP answer: the agent's first frame says the
// length (or why not: then the answer is an error, before any byte), its binary frames are written as
// they come, and the agent's socket is paused while the client's is full, so that a slow client slows
// the agent's reading rather than filling the server's memory. A stream that ends without its 'end',
// or short of the length it announced, ends the answer short of its Content-Length (an archive of files,
// of no length, short of its last chunk): the client sees an incomplete download, never a file that looks
// whole.
import type { WebSocket } from '@fastify/websocket'
import type { FastifyReply } from 'fastify'
import { parseDownloadFrame, type ArchiveKind, type DownloadFrame } from '@strata/core/agent'
import { errorMessage } from '@strata/core'
import { ApiError } from '../errors.js'
import { statusOfCode } from '../http-errors.js'

export function pipeDownload(
  socket: WebSocket,
  reply: FastifyReply,
  signal: AbortSignal,
  onStopped: (reason: string) => void,
  progress: { received: number } = { received: 0 },
): Promise<void> {
  // One handler from the first frame on: ws may deliver several frames in one go, none may be missed.
  return new Promise<void>((resolve, reject) => {
    let head: { length?: number } | undefined
    let sent = 0
    let ended = false
    const end = (): void => {
      ended = true
      signal.removeEventListener('abort', onAbort)
    }
    /** Before the head: the answer is still an error of its own. After it: cut short. */
    const fail = (reason: string, error?: ApiError): void => {
      if (ended) return
      end()
      socket.terminate()
      if (head === undefined) return reject(error ?? new ApiError(502, 'AGENT_DOWNLOAD_FAILED', reason))
      reply.raw.destroy() // short of Content-Length: the client knows the file is incomplete
      onStopped(reason)
      resolve()
    }
    const onAbort = (): void => fail(`the client went away (${errorMessage(signal.reason)})`)
    signal.addEventListener('abort', onAbort, { once: true })
    reply.raw.on('drain', () => socket.resume())
    socket.on('close', () =>
      fail(
        head === undefined
          ? 'the agent closed the download before it started'
          : `the agent's stream closed after ${sent} of ${head.length ?? 'its'} bytes`,
      ),
    )
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (ended) return
      if (isBinary) {
        if (head === undefined) return fail('the agent sent bytes before its head')
        sent += data.length
        progress.received = sent
        if (head.length !== undefined && sent > head.length)
          return fail(`the agent sent more than the ${head.length} bytes it announced`)
        if (!reply.raw.write(data)) socket.pause()
        return
      }
      let f: DownloadFrame
      try {
        f = parseDownloadFrame(data.toString())
      } catch (error) {
        return fail(errorMessage(error))
      }
      if (head === undefined) {
        if (f.type === 'head') return (head = start(reply, f))
        if (f.type === 'error')
          return fail(f.message, new ApiError(statusOfCode(f.code) ?? 502, f.code, f.message))
        return fail('the agent sent no file')
      }
      if (f.type !== 'end' || (head.length !== undefined && sent !== head.length))
        return fail(
          f.type === 'error' ? `the agent failed: ${f.message}` : `the stream ended at ${sent} bytes`,
        )
      end()
      reply.raw.end(() => resolve())
      socket.close(1000, 'done')
    })
  })
}

const ARCHIVE_TYPES = { zip: 'application/zip', tar: 'application/x-tar', 'tar.gz': 'application/gzip' }

/** A file of a known length, or an archive made as it streams (chunked: a cut shows as a missing end). */
function start(
  reply: FastifyReply,
  f: { length?: number; name: string; format?: ArchiveKind },
): { length?: number } {
  reply.hijack()
  reply.raw.writeHead(200, {
    'content-type': f.format === undefined ? 'application/octet-stream' : ARCHIVE_TYPES[f.format],
    ...(f.length === undefined ? {} : { 'content-length': String(f.length) }),
    'content-disposition': `attachment; filename="${f.name}"`,
  })
  return f.length === undefined ? {} : { length: f.length }
}
