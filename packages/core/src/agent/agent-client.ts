// The agent: a long-running process next to a remote pool. It connects out to its server (pinned TLS,
// then a WebSocket authenticated by its token), says which protocol it speaks, and runs the jobs the
// server sends it in worker processes of its own, with the same engine. The link is made again with
// backoff when it drops; a run goes on meanwhile and what it says waits (bounded) for the next link.
// A wrong pin, a revoked token or a refused protocol end the agent: nothing changes until someone acts.
import { randomBytes } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { WebSocket } from 'ws'
import { errorCode, errorMessage, isRetryable, sleep } from '../shared/index.js'
import { AgentLinkError, AgentMessageError, AgentRefusedError } from './agent-errors.js'
import { AgentDownloads } from './agent-downloads.js'
import { AgentFileSessions } from './agent-files.js'
import { AgentRepositories } from './agent-repositories.js'
import { AgentRuns, type RunJob } from './agent-runs.js'
import { connectPinned } from './pinned-socket.js'
import {
  AGENT_CONNECT_PATH,
  AGENT_MAX_MESSAGE_BYTES,
  AGENT_PROTOCOL_VERSION,
  CLOSE_INVALID,
  CLOSE_REVOKED,
  parseToAgent,
  type FromAgent,
} from './protocol.js'

/** How long a link may stay silent (the server pings every 30 s) before the agent makes a new one. */
const SILENT_MS = 75_000

export interface AgentOptions {
  /** https://host:port of the server. */
  readonly serverUrl: string
  readonly token: string
  /** Canonical SHA-256 fingerprint of the server's certificate. */
  readonly fingerprint: string
  /** The agent's own data directory: its runs' logs, locks and job state (engine/). */
  readonly dataDir: string
  readonly name?: string
  /** This build's version, shown in the server's list of agents. */
  readonly version: string
  readonly signal: AbortSignal
  readonly log: (line: string) => void
  /** Another protocol version than this build's (tests of the refusal). */
  readonly protocol?: number
  readonly backoff?: { readonly minMs: number; readonly maxMs: number }
  /** Bytes read and written on the link, summed over its connections (what crossed the WAN). */
  readonly counters?: LinkCounters
  readonly runJob?: RunJob
}

export interface LinkCounters {
  read: number
  written: number
}

/** Runs until the signal aborts (resolves) or the server refuses the agent for good (rejects). */
export async function runAgent(o: AgentOptions): Promise<void> {
  const runs = new AgentRuns(o)
  const files = new AgentFileSessions(o, o.signal)
  const repositories = new AgentRepositories(o, o.signal, files)
  const downloads = new AgentDownloads(o, files)
  const session = randomBytes(8).toString('hex')
  const { minMs, maxMs } = o.backoff ?? { minMs: 1000, maxMs: 60_000 }
  let delay = minMs
  try {
    while (!o.signal.aborted) {
      try {
        const welcomed = await oneLink(o, { runs, repositories, downloads }, session)
        if (welcomed) delay = minMs
        o.log('the link to the server closed')
      } catch (error) {
        if (o.signal.aborted) break
        if (!isRetryable(error)) throw error
        o.log(
          `the link to the server is down (${errorMessage(error)}); again in ${Math.round(delay / 1000)} s`,
        )
      }
      await sleep(delay, o.signal).catch(() => undefined)
      delay = Math.min(delay * 2, maxMs)
    }
  } finally {
    await runs.stopAll()
    await files.closeAll()
  }
}

/** What the agent does for its server, across links: its runs, its repositories, its downloads. */
interface Work {
  readonly runs: AgentRuns
  readonly repositories: AgentRepositories
  readonly downloads: AgentDownloads
}

/** One link, from the TLS connection to its close; true when the server had welcomed the agent. */
async function oneLink(o: AgentOptions, work: Work, session: string): Promise<boolean> {
  const url = new URL(AGENT_CONNECT_PATH, o.serverUrl)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = Number(url.port || 443)
  const socket = await connectPinned({ host, port, fingerprint: o.fingerprint }, o.signal)
  const ws = new WebSocket(url.href.replace(/^https:/, 'wss:'), {
    createConnection: () => socket,
    headers: { authorization: `Bearer ${o.token}` },
    maxPayload: AGENT_MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    handshakeTimeout: 15_000,
  })
  try {
    return await linkLife(o, ws, work, session)
  } finally {
    count(o.counters, socket)
    work.runs.detach()
  }
}

function count(counters: LinkCounters | undefined, socket: TLSSocket): void {
  if (counters === undefined) return
  counters.read += socket.bytesRead
  counters.written += socket.bytesWritten
}

function linkLife(o: AgentOptions, ws: WebSocket, work: Work, session: string): Promise<boolean> {
  const { runs, repositories, downloads } = work
  let welcomed = false
  return new Promise<boolean>((resolve, reject) => {
    let failure: Error | undefined
    const fail = (error: Error): void => void (failure ??= error)
    const onAbort = (): void => ws.close(1000, 'the agent is stopping')
    o.signal.addEventListener('abort', onAbort, { once: true })
    const send = (m: FromAgent): void => ws.send(JSON.stringify(m))
    const stopWatch = watchSilence(ws, fail)
    watchRefusal(ws, (error) => (failure = error))
    ws.on('open', () => send(hello(o, session)))
    ws.on('message', (data, isBinary) => {
      try {
        if (isBinary) throw new AgentMessageError('a binary frame')
        const m = parseToAgent(data.toString())
        if (m.type === 'welcome') {
          welcomed = true
          o.log(`connected to ${o.serverUrl} as agent ${m.agentId}`)
          runs.attach(m.agentId, m.acked, send)
        } else if (m.type === 'download') downloads.handle(m, runs.key)
        else if (m.type === 'refused')
          failure = new AgentRefusedError(m.code, `the server refused this agent: ${m.message}`)
        else if (m.type === 'repository') repositories.handle(m, runs.key, send)
        else runs.handle(m)
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error))
        ws.close(CLOSE_INVALID, errorCode(error))
      }
    })
    ws.on('error', (error) => fail(new AgentLinkError(`the link failed: ${error.message}`, error)))
    ws.on('close', (code, reason) => {
      stopWatch()
      o.signal.removeEventListener('abort', onAbort)
      const error = outcome(code, reason.toString(), failure, welcomed)
      return error === undefined ? resolve(welcomed) : reject(error)
    })
  })
}

function hello(o: AgentOptions, session: string): FromAgent {
  const name = o.name === undefined ? {} : { name: o.name }
  return {
    type: 'hello',
    protocol: o.protocol ?? AGENT_PROTOCOL_VERSION,
    session,
    version: o.version,
    ...name,
  }
}

/** The server pings every 30 s: a link with no ping for SILENT_MS is dead (a NAT forgot it). */
function watchSilence(ws: WebSocket, fail: (error: Error) => void): () => void {
  let silent: NodeJS.Timeout | undefined
  const heard = (): void => {
    clearTimeout(silent)
    silent = setTimeout(() => {
      fail(new AgentLinkError(`no word from the server in ${SILENT_MS / 1000} s`))
      ws.terminate()
    }, SILENT_MS)
  }
  ws.on('ping', heard)
  ws.on('open', heard)
  return () => clearTimeout(silent)
}

/** An HTTP answer instead of the upgrade (401 for a bad or revoked token): read, then the link ends. */
function watchRefusal(ws: WebSocket, refused: (error: Error) => void): void {
  ws.on('unexpected-response', (_req, res) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 4000)))
    res.on('end', () => {
      refused(refusalOf(res.statusCode ?? 0, body))
      ws.terminate()
    })
  })
}

/** How a link's end reads: undefined for a close to try again after, else the error to end with. */
function outcome(
  code: number,
  reason: string,
  failure: Error | undefined,
  welcomed: boolean,
): Error | undefined {
  if (code === CLOSE_REVOKED)
    return new AgentRefusedError('AGENT_REVOKED', `the server revoked this agent: ${reason}`)
  if (failure === undefined) return undefined
  // Refusals (pin, token, protocol) end the agent; anything else is a link to make again.
  if (!(failure instanceof AgentMessageError) && !isRetryable(failure)) return failure
  return welcomed ? undefined : asRetryable(failure)
}

const asRetryable = (e: Error): Error => (isRetryable(e) ? e : new AgentLinkError(e.message, e))

/** The server's answer to the upgrade, when it was not one (401 for a bad or revoked token). */
function refusalOf(status: number, body: string): Error {
  let message = `HTTP ${status}`
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } }
    message = parsed.error?.message ?? message
  } catch {
    // the status says it
  }
  if (status === 401)
    return new AgentRefusedError('AGENT_UNAUTHORIZED', `the server refused the agent's token: ${message}`)
  return new AgentLinkError(`the server answered the link with ${message}`)
}
