// The KVM probe's verdict, kept for an hour of the same boot in a file of this user's, so that every
// process (the CLI starts one per command) does not pay for the probe again. A file that is not ours,
// not of this boot, too old or unreadable is ignored: the probe runs again.
import { lstat, readFile, rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What the appliance runs under (declared here, the lower of the two files, so that they form no cycle). */
export interface Accelerator {
  readonly kind: 'kvm' | 'tcg'
  /** Why not KVM, when TCG was chosen. */
  readonly reason?: string
}

const MAX_AGE_MS = 3_600_000

export function cachePath(): string {
  return join(tmpdir(), `strata-accelerator-${process.getuid?.() ?? 'any'}.json`)
}

async function bootId(): Promise<string | undefined> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()
  } catch {
    return undefined
  }
}

export async function readCachedVerdict(
  path = cachePath(),
  now = Date.now(),
): Promise<Accelerator | undefined> {
  const boot = await bootId()
  if (boot === undefined) return undefined
  try {
    const stat = await lstat(path)
    if (!stat.isFile() || stat.uid !== process.getuid?.() || now - stat.mtimeMs > MAX_AGE_MS) return undefined
    const parsed = JSON.parse(await readFile(path, 'utf8')) as {
      boot?: unknown
      kind?: unknown
      reason?: unknown
    }
    if (parsed.boot !== boot || (parsed.kind !== 'kvm' && parsed.kind !== 'tcg')) return undefined
    return parsed.kind === 'kvm'
      ? { kind: 'kvm' }
      : { kind: 'tcg', reason: `${String(parsed.reason)} (probed earlier in this boot)` }
  } catch {
    return undefined
  }
}

export async function writeCachedVerdict(verdict: Accelerator, path = cachePath()): Promise<void> {
  const boot = await bootId()
  if (boot === undefined) return
  const temporary = `${path}.${process.pid}`
  try {
    await writeFile(temporary, JSON.stringify({ boot, ...verdict }), { mode: 0o600 })
    await rename(temporary, path)
  } catch {
    // a cache only: the next process probes again
  }
}
