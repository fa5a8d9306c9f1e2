// Opening VHD files and their parents. A differencing disk names its parent in its locators and its
// header's parent name; XAPI writes absolute dom0 paths there, so besides the path itself we look for
// the file name in the child's directory. A candidate is the parent only if its UUID is the one the
// child expects.
import { access as fileExists } from 'node:fs/promises'
import { basename, dirname, isAbsolute, resolve } from 'node:path'
import { formatUuid } from '../bytes.js'
import { VhdChain } from '../chain.js'
import { openVhd, type VhdDisk } from '../disk.js'
import { VhdError, VhdErrorCode } from '../errors.js'
import { FileAccess } from './file-access.js'

export interface OpenFileOptions {
  strict?: boolean
  signal?: AbortSignal
}

export async function openVhdFile(path: string, options: OpenFileOptions = {}): Promise<VhdDisk> {
  const access = await FileAccess.open(path)
  try {
    return await openVhd(access, { name: path, strict: options.strict ?? true, signal: options.signal })
  } catch (error) {
    await access.close()
    throw error
  }
}

/** Where the child says its parent is, most specific first, without duplicates. */
export async function parentCandidates(
  child: VhdDisk,
  childPath: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const dir = dirname(childPath)
  const named = [...(await child.locatorPaths(signal)), child.header?.parentUnicodeName ?? '']
  const candidates: string[] = []
  for (const raw of named) {
    const name = raw.replace(/\\/g, '/')
    if (name === '') continue
    candidates.push(isAbsolute(name) ? name : resolve(dir, name))
    candidates.push(resolve(dir, basename(name)))
  }
  return [...new Set(candidates)]
}

/** Opens the parent of a differencing disk, checking its UUID. */
export async function openParent(
  child: VhdDisk,
  childPath: string,
  options: OpenFileOptions = {},
): Promise<{ path: string; disk: VhdDisk }> {
  const wanted = formatUuid(child.header!.parentUuid)
  const mismatches: string[] = []
  for (const path of await parentCandidates(child, childPath, options.signal)) {
    if (!(await exists(path))) continue
    const disk = await openVhdFile(path, options)
    if (formatUuid(disk.footer.uuid) === wanted) return { path, disk }
    mismatches.push(`${path} (${formatUuid(disk.footer.uuid)})`)
    await disk.close()
  }
  if (mismatches.length > 0) {
    throw new VhdError(
      VhdErrorCode.parentMismatch,
      `${childPath}: expects parent ${wanted}, found only ${mismatches.join(', ')}`,
      { details: { expected: wanted } },
    )
  }
  throw new VhdError(
    VhdErrorCode.parentNotFound,
    `${childPath}: parent ${wanted} ('${child.header?.parentUnicodeName ?? ''}') not found beside it`,
    { details: { expected: wanted } },
  )
}

/** The file and all its parents, tip first. */
export async function openVhdChain(
  path: string,
  options: OpenFileOptions & { maxDepth?: number } = {},
): Promise<VhdChain> {
  const maxDepth = options.maxDepth ?? 256
  const disks: VhdDisk[] = []
  try {
    let disk = await openVhdFile(path, options)
    let diskPath = path
    disks.push(disk)
    const seen = new Set([formatUuid(disk.footer.uuid)])
    while (disk.isDifferencing) {
      if (disks.length > maxDepth) {
        throw new VhdError(VhdErrorCode.invalid, `${path}: chain deeper than ${maxDepth} disks`)
      }
      const parent = await openParent(disk, diskPath, options)
      disks.push(parent.disk)
      const uuid = formatUuid(parent.disk.footer.uuid)
      if (seen.has(uuid)) throw new VhdError(VhdErrorCode.invalid, `${path}: the chain loops back to ${uuid}`)
      seen.add(uuid)
      disk = parent.disk
      diskPath = parent.path
    }
    return new VhdChain(disks)
  } catch (error) {
    await Promise.allSettled(disks.map((d) => d.close()))
    throw error
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fileExists(path)
    return true
  } catch {
    return false
  }
}
