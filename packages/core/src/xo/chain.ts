// A delta restore point's disk: the chain from its VHD back to the key (full) VHD, followed by each
// member's parent name (relative to the member's alias or file), resolved in a loop with a bound, never
// by recursion. Members hold no open file: a chain of thousands costs memory for their BATs only.
import { formatUuid, VhdChain, VhdError } from '../vhd/index.js'
import { XoError } from './errors.js'
import { resolveFrom } from './format/paths.js'
import { openMember, type Member } from './members.js'
import type { XoRemote } from './remote.js'

/** Longer chains are refused: XO merges them long before (this bounds a loop or a hostile remote). */
export const MAX_CHAIN_LENGTH = 10_000

/** Members opened once and shared by the chains of a listing (they hold no resources). */
export class MemberCache {
  readonly #opened = new Map<string, Promise<Member>>()

  constructor(readonly remote: XoRemote) {}

  open(path: string, signal?: AbortSignal): Promise<Member> {
    let member = this.#opened.get(path)
    if (member === undefined) {
      member = openMember(this.remote, path, signal)
      member.catch(() => this.#opened.delete(path)) // an abort must not stick
      this.#opened.set(path, member)
    }
    return member
  }
}

export interface ResolvedChain {
  readonly chain: VhdChain
  /** Tip first: the paths XO names each member by. */
  readonly members: readonly Member[]
}

export async function openChain(
  cache: MemberCache,
  vhd: string,
  signal?: AbortSignal,
): Promise<ResolvedChain> {
  const members: Member[] = []
  const seen = new Set<string>()
  for (let path: string | undefined = vhd; path !== undefined;) {
    if (seen.has(path)) throw broken(vhd, `it loops back to ${path}`)
    if (members.length >= MAX_CHAIN_LENGTH) throw broken(vhd, `it is longer than ${MAX_CHAIN_LENGTH} VHDs`)
    seen.add(path)
    const member = await openParent(cache, path, members.at(-1), signal)
    members.push(member)
    path = member.disk.isDifferencing ? parentPath(member) : undefined
  }
  try {
    return { chain: new VhdChain(members.map((m) => m.disk)), members }
  } catch (error) {
    if (!(error instanceof VhdError)) throw error
    throw broken(vhd, error.message, error)
  }
}

async function openParent(
  cache: MemberCache,
  path: string,
  child: Member | undefined,
  signal?: AbortSignal,
): Promise<Member> {
  try {
    return await cache.open(path, signal)
  } catch (error) {
    if (child === undefined || (error as XoError).code !== 'XO_NOT_FOUND') throw error
    const uuid = formatUuid(child.disk.header!.parentUuid)
    throw new XoError('XO_CHAIN_BROKEN', `the parent of ${child.path} (${path}, VHD ${uuid}) is missing`, {
      cause: error,
      details: { child: child.path, parent: path },
    })
  }
}

function parentPath(member: Member): string {
  const name = member.disk.header!.parentUnicodeName
  if (name === '') throw broken(member.path, 'this differencing VHD names no parent')
  return resolveFrom(member.path, name, `parent of ${member.path}`)
}

function broken(vhd: string, why: string, cause?: unknown): XoError {
  return new XoError('XO_CHAIN_BROKEN', `the VHD chain of ${vhd} is unusable: ${why}`, { cause })
}
