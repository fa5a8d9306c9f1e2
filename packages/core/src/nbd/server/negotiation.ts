// The server side of option haggling, per profile. Returns the export to serve, or undefined when the
// connection must simply close (xapi-nbd closes without a word on a bad export name or NBD_OPT_ABORT).
import type { SecureContext } from 'node:tls'
import type { ExportResolver, ResolvedExport } from './block-source.js'
import {
  BASE_ALLOCATION,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  Info,
  Opt,
  Rep,
  RepErr,
} from '../codec/constants.js'
import {
  decodeGoPayload,
  decodeMetaContextPayload,
  decodeOptionHeader,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeMetaContextReply,
  encodeOptionReply,
  OPTION_HEADER_SIZE,
} from '../codec/handshake.js'
import { protocolError } from '../errors.js'
import type { Peer } from './peer.js'
import { transmissionFlags, type Profile } from './profile.js'

export interface NegotiationContext {
  readonly profile: Profile
  readonly resolve: ExportResolver
  readonly listExports?: () => string[]
  readonly tls?: { context: SecureContext; requestCert: boolean }
  readonly timeoutMs: number
  readonly signal: AbortSignal
}

export interface Session {
  readonly name: string
  readonly resolved: ResolvedExport
  readonly structured: boolean
  /** Negotiated metadata contexts: id → name. */
  readonly contexts: ReadonlyMap<number, string>
  readonly writable: boolean
}

/** The one metadata context served; its id on the wire. */
export const BASE_ALLOCATION_ID = 1
const MAX_OPTION_DATA = 64 * 1024

interface State {
  tlsDone: boolean
  structured: boolean
  contexts: Map<number, string>
  noZeroes: boolean
}

export async function negotiateServer(peer: Peer, ctx: NegotiationContext): Promise<Session | undefined> {
  const { profile, signal } = ctx
  peer.write(encodeGreeting(profile.handshakeFlags))
  const clientFlags = (await peer.queue.read(4, signal)).readUInt32BE(0)
  if ((clientFlags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)) !== 0) return undefined
  if ((clientFlags & FLAG_FIXED_NEWSTYLE) === 0 && ctx.tls !== undefined) return undefined
  const state: State = {
    tlsDone: false,
    structured: false,
    contexts: new Map(),
    noZeroes: profile.modern && (clientFlags & FLAG_NO_ZEROES) !== 0,
  }
  for (;;) {
    const { option, length } = decodeOptionHeader(await peer.queue.read(OPTION_HEADER_SIZE, signal))
    if (length > MAX_OPTION_DATA) throw protocolError(`option ${option} with ${length} bytes of data`)
    const data = await peer.queue.read(length, signal)
    const outcome = await handleOption(peer, ctx, state, option, data)
    if (outcome !== 'continue') return outcome
  }
}

type Outcome = Session | undefined | 'continue'

async function handleOption(
  peer: Peer,
  ctx: NegotiationContext,
  state: State,
  option: number,
  data: Buffer,
): Promise<Outcome> {
  const reply = (type: number, payload?: Buffer): 'continue' => (
    peer.write(encodeOptionReply(option, type, payload)),
    'continue'
  )
  const tlsPending = ctx.tls !== undefined && !state.tlsDone
  if (option === Opt.ABORT) {
    if (!tlsPending) peer.write(encodeOptionReply(option, Rep.ACK))
    return undefined
  }
  if (option === Opt.STARTTLS) {
    if (!tlsPending || data.length !== 0) return reply(RepErr.INVALID)
    reply(Rep.ACK)
    await peer.startTls(ctx.tls!.context, { requestCert: ctx.tls!.requestCert, timeoutMs: ctx.timeoutMs })
    state.tlsDone = true
    return 'continue'
  }
  if (option === Opt.EXPORT_NAME)
    return tlsPending ? undefined : exportName(peer, ctx, state, data.toString('utf8'))
  if (tlsPending) return reply(RepErr.TLS_REQD)
  if (option === Opt.LIST) return list(peer, ctx, reply)
  if (!ctx.profile.modern) return reply(RepErr.UNSUP)
  switch (option) {
    case Opt.STRUCTURED_REPLY:
      if (data.length !== 0 || state.structured) return reply(RepErr.INVALID)
      state.structured = true
      return reply(Rep.ACK)
    case Opt.SET_META_CONTEXT:
    case Opt.LIST_META_CONTEXT:
      return metaContext(peer, state, option, data, reply)
    case Opt.INFO:
    case Opt.GO:
      return go(peer, ctx, state, option, data, reply)
    default:
      return reply(RepErr.UNSUP)
  }
}

function list(
  peer: Peer,
  ctx: NegotiationContext,
  reply: (type: number, payload?: Buffer) => 'continue',
): 'continue' {
  if (!ctx.profile.modern || ctx.listExports === undefined) return reply(RepErr.POLICY)
  for (const name of ctx.listExports()) {
    const bytes = Buffer.from(name, 'utf8')
    const payload = Buffer.alloc(4 + bytes.length)
    payload.writeUInt32BE(bytes.length, 0)
    bytes.copy(payload, 4)
    peer.write(encodeOptionReply(Opt.LIST, Rep.SERVER, payload))
  }
  return reply(Rep.ACK)
}

function metaContext(
  peer: Peer,
  state: State,
  option: number,
  data: Buffer,
  reply: (type: number, payload?: Buffer) => 'continue',
): 'continue' {
  if (!state.structured) return reply(RepErr.INVALID, Buffer.from('structured replies first'))
  const { queries } = decodeMetaContextPayload(data)
  const listing = option === Opt.LIST_META_CONTEXT
  const matches =
    queries.some((q) => q === BASE_ALLOCATION || (listing && q === 'base:')) ||
    (listing && queries.length === 0)
  if (!listing) state.contexts.clear()
  if (matches) {
    peer.write(
      encodeOptionReply(
        option,
        Rep.META_CONTEXT,
        encodeMetaContextReply(listing ? 0 : BASE_ALLOCATION_ID, BASE_ALLOCATION),
      ),
    )
    if (!listing) state.contexts.set(BASE_ALLOCATION_ID, BASE_ALLOCATION)
  }
  return reply(Rep.ACK)
}

async function go(
  peer: Peer,
  ctx: NegotiationContext,
  state: State,
  option: number,
  data: Buffer,
  reply: (type: number, payload?: Buffer) => 'continue',
): Promise<Outcome> {
  const request = decodeGoPayload(data)
  const resolved = await ctx.resolve(request.exportName, ctx.signal)
  if (resolved === undefined) return reply(RepErr.UNKNOWN, Buffer.from(`no export '${request.exportName}'`))
  const writable = resolved.source.write !== undefined
  reply(Rep.INFO, encodeInfoExport(resolved.source.size, transmissionFlags(ctx.profile, writable)))
  if (request.infos.includes(Info.BLOCK_SIZE))
    reply(Rep.INFO, encodeInfoBlockSize(1, 4096, ctx.profile.maxRequest))
  reply(Rep.ACK)
  if (option === Opt.INFO) {
    await resolved.release?.()
    return 'continue'
  }
  return {
    name: request.exportName,
    resolved,
    structured: state.structured,
    contexts: state.contexts,
    writable,
  }
}

async function exportName(peer: Peer, ctx: NegotiationContext, state: State, name: string): Promise<Outcome> {
  const resolved = await ctx.resolve(name, ctx.signal)
  if (resolved === undefined) return undefined
  const writable = ctx.profile.modern && resolved.source.write !== undefined
  peer.write(
    encodeExportNameReply(resolved.source.size, transmissionFlags(ctx.profile, writable), state.noZeroes),
  )
  return { name, resolved, structured: state.structured, contexts: state.contexts, writable }
}
