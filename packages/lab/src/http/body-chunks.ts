// A request body's chunks as the socket delivered them. A Readable's own async iterator returns all
// it has buffered at each step, concatenated: when the event loop lags (a loaded host), every step of
// a 96 MB upload copies what piled up into a new buffer, more memory to allocate and collect. Here
// each chunk is passed on as it came, the socket paused while too many wait. A body that stops before
// its end fails as the stream's own iterator fails it (ERR_STREAM_PREMATURE_CLOSE).
import type { Readable } from 'node:stream'

/** Chunks waiting at most before the socket is paused (the TLS layer delivers up to 16 KiB each). */
const HIGH = 64
const LOW = 16

export async function* bodyChunks(stream: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = []
  let ended = false
  let failure: { error: unknown } | undefined
  let wake: (() => void) | undefined
  const onData = (chunk: Buffer): void => {
    queue.push(chunk)
    if (queue.length >= HIGH) stream.pause()
    wake?.()
  }
  const onEnd = (): void => {
    ended = true
    wake?.()
  }
  const onClose = (): void => {
    if (!stream.readableEnded) failure ??= { error: prematureClose() }
    onEnd()
  }
  const onError = (error: unknown): void => {
    failure ??= { error }
    wake?.()
  }
  stream.on('data', onData).once('end', onEnd).once('close', onClose).once('error', onError)
  try {
    for (;;) {
      const chunk = queue.shift()
      if (chunk !== undefined) {
        if (queue.length <= LOW && stream.isPaused()) stream.resume()
        yield chunk
        continue
      }
      if (failure !== undefined) throw failure.error
      if (ended) return
      await new Promise<void>((resolve) => (wake = resolve))
      wake = undefined
    }
  } finally {
    stream.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onError)
  }
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}
