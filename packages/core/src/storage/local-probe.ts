// What a local store needs to know of the file system under its root, found with a probe file there
// (a temp name, so that an interrupted probe is swept like any leftover): is it a remote one (NFS, SMB,
// FUSE)? can it link()? does O_EXCL refuse a name that exists? does case tell names apart? how fine
// are the times it keeps, and how far is its clock from ours?
// An SMB share (and many FUSE file systems) has no hard links: the store then creates objects through
// an O_EXCL claim instead (local-claim.ts). Node.js exposes no renameat2(), so RENAME_NOREPLACE (which
// an SMB mount refuses anyway) is not a way the store can create objects, and is not probed.
import { randomBytes } from 'node:crypto'
import { link, lstat, open, stat, statfs, unlink, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, throwIfAborted } from '../shared/index.js'
import { FILE_MODE, TEMP_PREFIX } from './local-fs.js'
import type { FileSystemTraits } from './object-store.js'

/** What link() answers on a file system that has no hard links (EPERM: vfat, an SMB share). */
export const NO_LINK_CODES = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS'])

/** statfs(2) magic numbers (linux/magic.h) of the file systems worth naming. */
const TYPES = new Map<number, string>([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x2fc12fc1, 'zfs'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuse'],
])
const REMOTE = new Set(['nfs', 'cifs', 'smb2', 'fuse'])

/** An odd second and a microsecond fraction: what a file system keeps of it tells its resolution. */
const PROBE_TIME_NS = 1_700_000_001_123_456_000n
const RESOLUTIONS_NS = [1_000n, 1_000_000n, 10_000_000n, 100_000_000n, 1_000_000_000n, 2_000_000_000n]

/**
 * Probes the file system at `root`; undefined when `root` does not exist yet (a repository about to be
 * created): the store probes again at its first write.
 */
export async function probeFileSystem(
  root: string,
  signal?: AbortSignal,
): Promise<FileSystemTraits | undefined> {
  throwIfAborted(signal)
  const probe = join(root, `${TEMP_PREFIX}probe-${randomBytes(8).toString('hex')}`)
  const second = `${probe}-link`
  const before = Date.now()
  try {
    await (await open(probe, 'wx', FILE_MODE)).close()
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined
    throw error
  }
  try {
    const after = Date.now()
    const created = await stat(probe)
    const exclusiveCreate = await open(probe, 'wx').then(
      async (handle) => {
        await handle.close() // O_EXCL was not honoured
        return false
      },
      (error: unknown) => (errorCode(error) === 'EEXIST' ? true : Promise.reject(error)),
    )
    const hardLinks = await link(probe, second).then(
      () => true,
      (error: unknown) => (NO_LINK_CODES.has(String(errorCode(error))) ? false : Promise.reject(error)),
    )
    // The probe's name is lower case: if its upper-case spelling finds it, case does not tell names apart.
    const upper = join(root, probe.slice(root.length + 1).toUpperCase())
    const caseSensitive = (await lstat(upper).catch(() => undefined)) === undefined
    const timestampResolutionMs = await timestampResolution(probe)
    const skew = clockSkew(created.mtimeMs, before, after, timestampResolutionMs ?? 2000)
    const magic = (await statfs(root)).type
    const type = TYPES.get(magic) ?? `0x${magic.toString(16)}`
    const remote = REMOTE.has(type)
    return {
      type,
      remote,
      caseSensitive,
      hardLinks,
      exclusiveCreate,
      timestampResolutionMs,
      clockSkewMs: skew,
    }
  } finally {
    await unlink(second).catch(() => undefined)
    await unlink(probe).catch(() => undefined)
  }
}

/** Sets a known time with a fine fraction and reads back what was kept; undefined if times cannot be set. */
async function timestampResolution(path: string): Promise<number | undefined> {
  const seconds = Number(PROBE_TIME_NS) / 1e9
  const set = await utimes(path, seconds, seconds).then(
    () => true,
    () => false,
  )
  if (!set) return undefined
  const kept = (await stat(path, { bigint: true })).mtimeNs
  for (const step of RESOLUTIONS_NS) {
    const down = (PROBE_TIME_NS / step) * step
    const up = down + (PROBE_TIME_NS % step === 0n ? 0n : step)
    if (near(kept, down) || near(kept, up)) return Number(step) / 1e6
  }
  return undefined
}

/** Within a microsecond: the time went through a double on its way in. */
function near(a: bigint, b: bigint): boolean {
  return (a > b ? a - b : b - a) < 1_000n
}

/**
 * The server's time of a new file against ours around its creation; 0 within the resolution plus 0.1 s
 * (kernels stamp files with a clock that lags by up to a tick).
 */
function clockSkew(mtimeMs: number, before: number, after: number, resolutionMs: number): number {
  const slack = resolutionMs + 100
  if (mtimeMs >= before - slack && mtimeMs <= after + slack) return 0
  return Math.round(mtimeMs - (before + after) / 2)
}
