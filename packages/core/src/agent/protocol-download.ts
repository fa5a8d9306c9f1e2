// Downloads of an agent's restore points, streamed from the agent through the server. The control link
// stays free: the server sends 'download' (a single-use id it issued, and the order sealed for the agent
// with that id bound in), and the agent opens a second WebSocket of its own for the bytes, at
// AGENT_DOWNLOAD_PATH + id, with its token. On it the agent sends one text frame, 'head' (the length
// and name) or 'error' (a refusal before any byte), then binary frames of the file, then 'end'. A stream
// that closes before 'end' was cut: the server ends its HTTP answer short of its Content-Length (an
// archive of files has no length: its chunked answer is cut before its last chunk).
import type { RepositoryIdentity } from '../repository/index.js'
import { AgentMessageError } from './agent-errors.js'

/** Where the agent opens a download's stream: this path, then the download's id. */
export const AGENT_DOWNLOAD_PATH = '/api/agent/download/'
/** A binary frame of a download carries at most this many bytes. */
export const DOWNLOAD_FRAME_BYTES = 256 * 1024
/** The single-use ids the server issues: 32 random bytes, base64url. */
export const DOWNLOAD_ID = /^[A-Za-z0-9_-]{43}$/

export interface DownloadToAgent {
  readonly type: 'download'
  readonly id: string
  readonly sealed: string
}

/** What the server seals into a 'download' order (the id as associated data). */
export interface DownloadOrder {
  readonly repository: {
    readonly name: string
    readonly location: string
    readonly expected?: RepositoryIdentity
  }
  readonly pointId: string
  readonly disk: number
  /** Files of the disk's filesystems instead of the disk (file restore): one file as itself, else an archive. */
  readonly files?: {
    readonly paths: readonly string[]
    readonly fs?: string
    readonly format?: ArchiveKind
  }
  /** The repository's secrets (passphrase, S3 keys), for the agent to open it with. */
  readonly env: Record<string, string>
}

export type ArchiveKind = 'zip' | 'tar' | 'tar.gz'
const ARCHIVES: readonly unknown[] = ['zip', 'tar', 'tar.gz']

/** A text frame on a download's stream. */
export type DownloadFrame =
  /** `length` unless an archive of files is streamed as it is made (`format` then says which). */
  | { readonly type: 'head'; readonly length?: number; readonly name: string; readonly format?: ArchiveKind }
  | { readonly type: 'error'; readonly code: string; readonly message: string }
  | { readonly type: 'end' }

export function checkDownloadToAgent(o: Record<string, unknown>): void {
  if (typeof o.id !== 'string' || !DOWNLOAD_ID.test(o.id))
    throw new AgentMessageError("'download' has no valid 'id'")
  if (typeof o.sealed !== 'string' || o.sealed.length === 0)
    throw new AgentMessageError("'download' has no valid 'sealed'")
}

const NAME = /^[A-Za-z0-9._ -]{1,200}$/

/** A text frame of a download's stream, checked (what the server reads). */
export function parseDownloadFrame(text: string): DownloadFrame {
  let o: unknown
  try {
    o = text.length > 4096 ? undefined : JSON.parse(text)
  } catch (error) {
    throw new AgentMessageError('a download frame that is not JSON', error)
  }
  if (typeof o !== 'object' || o === null) throw new AgentMessageError('a download frame of no type')
  const f = o as Record<string, unknown>
  if (f.type === 'end') return { type: 'end' }
  if (
    f.type === 'head' &&
    (f.length === undefined
      ? ARCHIVES.includes(f.format)
      : Number.isSafeInteger(f.length) && (f.length as number) >= 0) &&
    (f.format === undefined || ARCHIVES.includes(f.format)) &&
    typeof f.name === 'string' &&
    NAME.test(f.name)
  )
    return {
      type: 'head',
      name: f.name,
      ...(f.length === undefined ? {} : { length: f.length as number }),
      ...(f.format === undefined ? {} : { format: f.format as ArchiveKind }),
    }
  if (
    f.type === 'error' &&
    typeof f.code === 'string' &&
    /^[A-Z0-9_]{1,100}$/.test(f.code) &&
    typeof f.message === 'string'
  )
    return { type: 'error', code: f.code, message: f.message.slice(0, 2000) }
  throw new AgentMessageError('an invalid download frame')
}
