// The client side of fixed newstyle negotiation: STARTTLS when asked, structured replies and metadata
// contexts when the server offers them, NBD_OPT_GO with a fallback to NBD_OPT_EXPORT_NAME for servers
// that refuse it (xapi-nbd answers every option but a few with NBD_REP_ERR_UNSUP).
import { NbdError, protocolError } from '../errors.js'
import type { ByteQueue } from '../byte-queue.js'
import type { Transport } from './transport.js'
import type { NbdTlsOptions } from '../tls-options.js'
import {
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  Info,
  isOptionError,
  Opt,
  Rep,
  RepErr,
  TFlag,
} from '../codec/constants.js'
import {
  applyInfo,
  decodeExportNameReply,
  decodeGreeting,
  decodeMetaContextReply,
  decodeOptionReplyHeader,
  encodeGoPayload,
  encodeMetaContextPayload,
  encodeOption,
  GREETING_SIZE,
  OPTION_REPLY_HEADER_SIZE,
  type ExportInfo,
} from '../codec/handshake.js'

export interface HandshakeOptions {
  exportName: string
  tls?: NbdTlsOptions
  host?: string
  structuredReplies: boolean
  metaContexts: readonly string[]
  timeoutMs: number
}

export interface Negotiated extends ExportInfo {
  readonly exportName: string
  readonly structuredReplies: boolean
  /** Metadata contexts the server agreed to, by name → id. */
  readonly contexts: ReadonlyMap<string, number>
  readonly tls: boolean
  /** How the export was selected: NBD_OPT_GO, or the old NBD_OPT_EXPORT_NAME. */
  readonly via: 'go' | 'export-name'
}

const MAX_OPTION_REPLY = 1024 * 1024

interface OptionReply {
  type: number
  data: Buffer
}

class Dialogue {
  constructor(
    readonly transport: Transport,
    readonly queue: ByteQueue,
    readonly signal: AbortSignal,
  ) {}

  send(option: number, data?: Buffer): void {
    this.transport.write(encodeOption(option, data))
  }

  async reply(option: number): Promise<OptionReply> {
    const header = decodeOptionReplyHeader(
      await this.queue.read(OPTION_REPLY_HEADER_SIZE, this.signal),
      option,
    )
    if (header.length > MAX_OPTION_REPLY) throw protocolError(`option reply of ${header.length} bytes`)
    return { type: header.type, data: await this.queue.read(header.length, this.signal) }
  }
}

const errorText = (reply: OptionReply): string => {
  const names = Object.entries(RepErr).find(([, v]) => v === reply.type)?.[0] ?? String(reply.type)
  return reply.data.length > 0 ? `${names}: ${reply.data.toString('utf8')}` : names
}

export async function negotiate(
  transport: Transport,
  queue: ByteQueue,
  options: HandshakeOptions,
  signal: AbortSignal,
): Promise<Negotiated> {
  const d = new Dialogue(transport, queue, signal)
  const serverFlags = decodeGreeting(await queue.read(GREETING_SIZE, signal))
  const fixed = (serverFlags & FLAG_FIXED_NEWSTYLE) !== 0
  const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0
  const clientFlags = Buffer.alloc(4)
  clientFlags.writeUInt32BE((fixed ? FLAG_FIXED_NEWSTYLE : 0) | (noZeroes ? FLAG_NO_ZEROES : 0))
  transport.write(clientFlags)
  if (options.tls !== undefined) {
    if (!fixed)
      throw new NbdError('NBD_TLS', 'TLS was requested but the server does not speak fixed newstyle')
    await startTls(d, options, signal)
  }
  if (!fixed) return exportName(d, options, noZeroes, false, new Map())
  const structured = options.structuredReplies && (await simpleOption(d, Opt.STRUCTURED_REPLY))
  const contexts =
    structured && options.metaContexts.length > 0
      ? await setMetaContexts(d, options)
      : new Map<string, number>()
  return (
    (await go(d, options, structured, contexts)) ?? exportName(d, options, noZeroes, structured, contexts)
  )
}

async function startTls(d: Dialogue, options: HandshakeOptions, signal: AbortSignal): Promise<void> {
  d.send(Opt.STARTTLS)
  const reply = await d.reply(Opt.STARTTLS)
  if (reply.type !== Rep.ACK)
    throw new NbdError('NBD_TLS', `the server refused STARTTLS (${errorText(reply)})`)
  if (d.queue.takeRest().length > 0) throw protocolError('bytes after the STARTTLS acknowledgement')
  await d.transport.startTls(options.tls!, options.host, options.timeoutMs, signal)
}

/** An option answered by ACK or an error; returns whether it was accepted. */
async function simpleOption(d: Dialogue, option: number): Promise<boolean> {
  d.send(option)
  const reply = await d.reply(option)
  if (reply.type === Rep.ACK) return true
  if (reply.type === RepErr.TLS_REQD) throw new NbdError('NBD_TLS', 'the server requires TLS')
  if (!isOptionError(reply.type)) throw protocolError(`unexpected reply ${reply.type} to option ${option}`)
  return false
}

async function setMetaContexts(d: Dialogue, options: HandshakeOptions): Promise<Map<string, number>> {
  d.send(Opt.SET_META_CONTEXT, encodeMetaContextPayload(options.exportName, options.metaContexts))
  const contexts = new Map<string, number>()
  for (;;) {
    const reply = await d.reply(Opt.SET_META_CONTEXT)
    if (reply.type === Rep.META_CONTEXT) {
      const { id, name } = decodeMetaContextReply(reply.data)
      contexts.set(name, id)
    } else if (reply.type === Rep.ACK) return contexts
    else if (isOptionError(reply.type)) return new Map()
    else throw protocolError(`unexpected reply ${reply.type} to NBD_OPT_SET_META_CONTEXT`)
  }
}

/** NBD_OPT_GO; undefined when the server does not know the option (fall back to EXPORT_NAME). */
async function go(
  d: Dialogue,
  options: HandshakeOptions,
  structured: boolean,
  contexts: Map<string, number>,
): Promise<Negotiated | undefined> {
  d.send(Opt.GO, encodeGoPayload(options.exportName, [Info.BLOCK_SIZE]))
  let info: Partial<ExportInfo> = {}
  for (;;) {
    const reply = await d.reply(Opt.GO)
    if (reply.type === Rep.INFO) info = applyInfo(info, reply.data)
    else if (reply.type === Rep.ACK) break
    else if (reply.type === RepErr.UNSUP) return undefined
    else if (reply.type === RepErr.TLS_REQD) throw new NbdError('NBD_TLS', 'the server requires TLS')
    else if (isOptionError(reply.type)) {
      throw new NbdError(
        'NBD_OPTION_REFUSED',
        `the server refused export '${options.exportName}' (${errorText(reply)})`,
      )
    } else throw protocolError(`unexpected reply ${reply.type} to NBD_OPT_GO`)
  }
  if (info.size === undefined || info.flags === undefined)
    throw protocolError('NBD_OPT_GO acknowledged without NBD_INFO_EXPORT')
  return finish(d, { ...info, size: info.size, flags: info.flags }, options, structured, contexts, 'go')
}

async function exportName(
  d: Dialogue,
  options: HandshakeOptions,
  noZeroes: boolean,
  structured: boolean,
  contexts: Map<string, number>,
): Promise<Negotiated> {
  d.send(Opt.EXPORT_NAME, Buffer.from(options.exportName, 'utf8'))
  let reply: Buffer
  try {
    reply = await d.queue.read(noZeroes ? 10 : 134, d.signal)
  } catch (cause) {
    if ((cause as NbdError).code !== 'NBD_CONNECTION_CLOSED') throw cause
    // Servers (xapi-nbd among them) close the connection when they refuse an export name.
    throw new NbdError(
      'NBD_OPTION_REFUSED',
      `the server closed the connection on export '${options.exportName}'`,
      { cause },
    )
  }
  return finish(d, decodeExportNameReply(reply), options, structured, contexts, 'export-name')
}

function finish(
  d: Dialogue,
  info: ExportInfo,
  options: HandshakeOptions,
  structured: boolean,
  contexts: Map<string, number>,
  via: 'go' | 'export-name',
): Negotiated {
  if ((info.flags & TFlag.HAS_FLAGS) === 0)
    throw protocolError('transmission flags without NBD_FLAG_HAS_FLAGS')
  if (d.queue.takeRest().length > 0) throw protocolError('unexpected bytes after negotiation')
  return {
    ...info,
    exportName: options.exportName,
    structuredReplies: structured,
    contexts,
    tls: options.tls !== undefined,
    via,
  }
}
