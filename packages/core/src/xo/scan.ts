// Listing an XO remote: every VM directory, every metadata file in it (each one a restore point, usable
// or not, with the reason), the locks and leftovers XO's jobs and merges leave behind (reported, never
// touched), and cache.json.gz compared with the metadata files, which win.
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { errorMessage, throwIfAborted } from '../shared/index.js'
import { MemberCache } from './chain.js'
import type { XoAlgorithm } from './crypto.js'
import { parseMetadata } from './format/metadata.js'
import { dirOf, VM_BACKUP_DIR } from './format/paths.js'
import { describe, MAX_METADATA, pointId, unparsedPoint, type XoPointSummary } from './point.js'
import type { XoRemote } from './remote.js'

const MAX_CACHE = 64 * 1024 * 1024

export interface XoVmSummary {
  readonly uuid: string
  /** name_label of the newest readable backup. */
  readonly name: string
  readonly points: number
  /** XO holds the VM directory's lock (a job or a merge runs, or one died holding it). */
  readonly locked: boolean
  readonly notes: readonly string[]
}

export interface XoListing {
  readonly remote: string
  readonly encryption: XoAlgorithm
  readonly vms: readonly XoVmSummary[]
  /** Oldest first within each VM. */
  readonly points: readonly XoPointSummary[]
  /** Remote-wide notes (the merge worker's queue). */
  readonly notes: readonly string[]
}

export async function listRemote(remote: XoRemote, signal?: AbortSignal): Promise<XoListing> {
  const top = await remote.entries(VM_BACKUP_DIR, signal)
  const locks = new Set(
    top.filter((e) => e.name.endsWith('.lock')).map((e) => e.name.slice(0, -'.lock'.length)),
  )
  const notes: string[] = []
  const queue = await remote.entries(`${VM_BACKUP_DIR}/.queue/clean-vm`, signal)
  if (queue.length > 0)
    notes.push(`${queue.length} clean-up task(s) queued for XO's merge worker in ${VM_BACKUP_DIR}/.queue`)
  const cache = new MemberCache(remote)
  const vms: XoVmSummary[] = []
  const points: XoPointSummary[] = []
  for (const entry of top) {
    if (entry.kind !== 'dir' || entry.name.startsWith('.') || entry.name.endsWith('.lock')) continue
    throwIfAborted(signal)
    const found = await scanVm(remote, cache, entry.name, signal)
    const locked = locks.has(entry.name)
    if (locked)
      found.notes.unshift(`XO holds the lock of this VM's directory (${VM_BACKUP_DIR}/${entry.name}.lock)`)
    const newest = found.points.filter((p) => p.vmName !== '').at(-1)
    vms.push({
      uuid: entry.name,
      name: newest?.vmName ?? '',
      points: found.points.length,
      locked,
      notes: found.notes,
    })
    points.push(...found.points)
  }
  return { remote: remote.name, encryption: remote.algorithm, vms, points, notes }
}

async function scanVm(
  remote: XoRemote,
  cache: MemberCache,
  vm: string,
  signal?: AbortSignal,
): Promise<{ points: XoPointSummary[]; notes: string[] }> {
  const dir = `${VM_BACKUP_DIR}/${vm}`
  const files = (await remote.entries(dir, signal)).filter((e) => e.kind === 'file').map((e) => e.name)
  const notes: string[] = []
  for (const name of files) {
    if (/^\.\d+\..+\.xva$/.test(name)) notes.push(`interrupted XVA upload left ${dir}/${name}`)
  }
  const jsons = files.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => `${dir}/${n}`)
  if (files.includes('cache.json.gz'))
    notes.push(...(await compareCache(remote, `${dir}/cache.json.gz`, jsons, signal)))
  const points: XoPointSummary[] = []
  for (const file of jsons) {
    throwIfAborted(signal)
    let point: XoPointSummary
    try {
      point = await describe(
        remote,
        cache,
        parseMetadata(await remote.read(file, MAX_METADATA, signal), file),
        signal,
      )
    } catch (error) {
      if ((error as { code?: string }).code === 'ABORTED') throw error
      point = unparsedPoint(file, error)
    }
    points.push(point)
  }
  await noteMerges(remote, points, signal)
  points.sort((a, b) => a.timestamp - b.timestamp || (a.id < b.id ? -1 : 1))
  return { points, notes }
}

/** Interrupted merges (`.<vhd>.merge.json` in a lineage directory) concern the points read from it. */
async function noteMerges(remote: XoRemote, points: XoPointSummary[], signal?: AbortSignal): Promise<void> {
  const merges = new Map<string, string[]>()
  for (const point of points) {
    for (const disk of point.disks) {
      const lineage = dirOf(disk.path)
      if (disk.path.endsWith('.xva')) continue
      if (!merges.has(lineage)) {
        const names = (await remote.entries(lineage, signal)).map((e) => e.name)
        merges.set(
          lineage,
          names.filter((n) => /^\..+\.merge\.json$/.test(n)),
        )
      }
      for (const state of merges.get(lineage)!) {
        const note = `an XO merge was interrupted in ${lineage} (${state}): XO resumes it; blocks it moved may be missing until then`
        if (!point.notes.includes(note)) point.notes.push(note)
      }
    }
  }
}

/** cache.json.gz is a hint: its stale or missing entries are reported, the metadata files are used. */
async function compareCache(
  remote: XoRemote,
  path: string,
  jsons: string[],
  signal?: AbortSignal,
): Promise<string[]> {
  let listed: string[]
  try {
    const gz = await remote.read(path, MAX_CACHE, signal)
    const text = (await promisify(gunzip)(gz, { maxOutputLength: 4 * MAX_CACHE })).toString('utf8')
    const value: unknown = JSON.parse(text)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object')
    listed = Object.keys(value).map((k) => k.replace(/^\//, ''))
  } catch (error) {
    if ((error as { code?: string }).code === 'ABORTED') throw error
    return [`${path} is unreadable (${errorMessage(error)}); the metadata files were read`]
  }
  const notes: string[] = []
  const stale = listed.filter((k) => !jsons.includes(k))
  const missing = jsons.filter((k) => !listed.includes(k))
  if (stale.length > 0)
    notes.push(
      `${path} lists ${stale.length} backup(s) with no metadata file (ignored): ${stale.map(pointId).join(', ')}`,
    )
  if (missing.length > 0)
    notes.push(
      `${path} misses ${missing.length} backup(s) that have a metadata file: ${missing.map(pointId).join(', ')}`,
    )
  return notes
}
