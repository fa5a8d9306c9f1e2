// What every HTTP data handler shares (xapi.md §4.1): session from the query or a cookie (401 if bad),
// the task bound with task_id (or one of our own), raw response heads written straight to the socket
// (no Content-Length, no chunking: the body ends when the connection closes), and the dom0 VBD that
// holds the VDI during the transfer.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { LabState } from '../api/lab-state.js'
import { createVbd, destroyVbd } from '../api/device-methods.js'
import { XapiFailure } from '../db/failure.js'
import type { HttpFault } from '../faults.js'
import { bodyChunks } from './body-chunks.js'

export interface Binding {
  session: string
  task: string
  query: URLSearchParams
}

export function cookie(req: IncomingMessage, name: string): string | undefined {
  const m = new RegExp(`(?:^|;\\s*)${name}=([^;]*)`).exec(req.headers.cookie ?? '')
  return m?.[1] === undefined ? undefined : decodeURIComponent(m[1])
}

/** Returns undefined when the session is invalid (the caller answers 401). */
export function bind(lab: LabState, req: IncomingMessage, url: URL, label: string): Binding | undefined {
  const param = (k: string): string | undefined => url.searchParams.get(k) ?? cookie(req, k)
  const session = param('session_id') ?? ''
  if (!lab.sessions.isValid(session)) return undefined
  const taskId = param('task_id')
  const usable =
    taskId !== undefined && lab.db.has('task', taskId) && lab.db.get('task', taskId).status === 'pending'
  return { session, task: usable ? taskId : lab.tasks.create(label), query: url.searchParams }
}

/** A VDI named by ref or uuid. */
export function resolveVdi(lab: LabState, id: string | null): string {
  if (id === null || id === '') throw new XapiFailure('INTERNAL_ERROR', ['Missing vdi query parameter'])
  if (id.startsWith('OpaqueRef:')) return (lab.db.get('VDI', id), id)
  return lab.db.byUuid('VDI', id)
}

export function writeHead(
  socket: Socket,
  status: string,
  task: string,
  headers: Record<string, string>,
): void {
  const lines = [
    `HTTP/1.1 ${status}`,
    'Connection: close',
    'Cache-Control: no-cache, no-store',
    `task-id:${task}`,
  ]
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}:${v}`)
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
}

/** Writes with backpressure; resolves false if the peer went away. */
export function write(socket: Socket, data: Uint8Array): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false)
  return new Promise((resolve) => {
    if (socket.write(data)) return resolve(true)
    const done = (ok: boolean) => () => {
      socket.off('drain', onDrain)
      socket.off('close', onClose)
      resolve(ok)
    }
    const onDrain = done(true)
    const onClose = done(false)
    socket.once('drain', onDrain)
    socket.once('close', onClose)
  })
}

/** Plugs a dom0 VBD to the VDI (as xapi does for transfers and NBD); returns its delayed unplug. */
export function attachDom0(lab: LabState, host: string, vdi: string, mode: 'RO' | 'RW'): () => void {
  const dom0 = String(lab.db.get('host', host).control_domain)
  const vbd = createVbd(lab, {
    VM: dom0,
    VDI: vdi,
    userdevice: 'autodetect',
    mode,
    type: 'Disk',
    bootable: false,
    currently_attached: true,
  })
  return () => {
    setTimeout(() => {
      if (!lab.db.has('VBD', vbd)) return
      lab.db.update('VBD', vbd, { currently_attached: false })
      destroyVbd(lab, vbd)
    }, lab.dom0DetachMs).unref()
  }
}

/** Waits as long as moving `bytes` takes on the lab's (optionally) slow disks. */
export async function throttle(lab: LabState, bytes: number): Promise<void> {
  const rate = lab.diskBytesPerSecond
  if (rate !== undefined && rate > 0)
    await new Promise((resolve) => setTimeout(resolve, (bytes / rate) * 1000))
}

/**
 * An upload's body with its fault applied: `cut` drops the connection after `afterBytes`; `stall` passes
 * `afterBytes` on and then swallows the rest without a word, the transfer never ending until the client
 * gives up. Either then fails the transfer with `failure` (what the handler's parser would report of a
 * body that ends early).
 */
export async function* faultyBody(
  req: IncomingMessage,
  fault: HttpFault | undefined,
  failure: XapiFailure,
): AsyncGenerator<Buffer> {
  const limit = fault?.kind === 'cut' || fault?.kind === 'stall' ? fault.afterBytes : Infinity
  const socket = req.socket
  let seen = 0
  for await (const chunk of bodyChunks(req)) {
    if (seen + chunk.length < limit) {
      seen += chunk.length
      yield chunk
      continue
    }
    const part = chunk.subarray(0, limit - seen)
    if (part.length > 0) yield part
    seen = limit
    // Still read (so that the client's going away is seen), never passed on.
    if (fault?.kind === 'stall') continue
    socket.destroy()
    throw failure
  }
  if (seen < limit) return
  // A stalled transfer ends when the client gives up.
  if (fault?.kind === 'stall' && !socket.destroyed)
    await new Promise((resolve) => socket.once('close', resolve))
  throw failure
}
