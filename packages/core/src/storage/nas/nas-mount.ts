// Mounting a NAS location under Strata's mounts directory, shared by every open of it, and unmounting it
// when the last one closes. Each open leaves a holder file (`NAME.holders/PID-RANDOM`) while it uses the
// mount; mount, unmount and the holders change only under a lock file (`NAME.lock`), so that an open
// never reuses a mount that a close is taking away. A killed process leaves its mount and its holder:
// the next open reuses the mount (same source at the same place), drops holders whose process is gone,
// and the last close unmounts it. The mount point is checked before every use (NasMount.check), so
// that a share unmounted under Strata is an error, never a write into the empty directory below it.
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { errorCode, sleep, throwIfAborted } from '../../shared/index.js'
import { DIR_MODE, FILE_MODE } from '../local-fs.js'
import { isProcessAlive } from '../process-alive.js'
import {
  credentialsFileText,
  MountError,
  mountCommand,
  mountFailure,
  spawnFailure,
  unmountCommand,
  type Command,
  type CommandRunner,
} from './mount-commands.js'
import { mountAt, parseMountTable } from './mount-table.js'
import { mountName, mountSource, nasName, type NasLocation } from './nas-location.js'

export interface NasMountOptions {
  /** Where mount points go: Strata's data directory's `mounts/`. */
  readonly mountDir: string
  readonly runner: CommandRunner
  readonly readMountTable: () => Promise<string>
  /** Only root can mount; others are told to mount the share themselves. */
  readonly isRoot: boolean
  /** SMB: the user (from the URL, or STRATA_SMB_USERNAME) and the password (never from the URL). */
  readonly user?: string
  readonly password?: string
  /** Bound on one mount or umount command (default 60 s: an unreachable server takes its time). */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
}

export interface NasMount {
  readonly mountPoint: string
  /** The store's directory: the mount point, or the path inside an SMB share. */
  readonly root: string
  /** Throws (MountError 'mount-point') when the share is not mounted there any more. */
  check(signal?: AbortSignal): Promise<void>
  /** Drops this open's hold; the last holder unmounts. */
  release(signal?: AbortSignal): Promise<void>
}

const LOCK_WAIT_MS = 120_000

export async function mountNas(location: NasLocation, options: NasMountOptions): Promise<NasMount> {
  if (!options.isRoot) {
    throw new MountError(
      'not-root',
      `cannot mount ${nasName(location)}: only root can mount shares; run Strata as root, or mount it ` +
        'yourself and give the mounted directory as the location',
    )
  }
  const user = location.protocol === 'smb' ? smbUser(location, options) : undefined
  await mkdir(options.mountDir, { recursive: true, mode: DIR_MODE })
  await chmod(options.mountDir, DIR_MODE)
  const mountPoint = join(options.mountDir, mountName(location, user))
  const holder = join(`${mountPoint}.holders`, `${process.pid}-${randomBytes(6).toString('hex')}`)
  const device = await withLock(`${mountPoint}.lock`, options.signal, async () => {
    await mkdir(mountPoint, { mode: DIR_MODE }).catch(existsOk)
    await mkdir(`${mountPoint}.holders`, { mode: DIR_MODE }).catch(existsOk)
    await ensureMounted(location, mountPoint, user, options)
    await writeFile(holder, '', { mode: FILE_MODE, flag: 'wx' })
    return (await stat(mountPoint)).dev
  })
  return held(location, mountPoint, holder, device, options)
}

/** This open's hold on the mount: the check before each call, and the release at close. */
function held(
  location: NasLocation,
  mountPoint: string,
  holder: string,
  device: number,
  options: NasMountOptions,
): NasMount {
  let released = false
  const inside = location.protocol === 'smb' && location.path !== '' ? location.path.split('/') : []
  return {
    mountPoint,
    root: join(mountPoint, ...inside),
    async check(signal) {
      throwIfAborted(signal)
      if ((await stat(mountPoint).catch(() => undefined))?.dev !== device) {
        throw new MountError('mount-point', `${nasName(location)} is not mounted at ${mountPoint} any more`)
      }
    },
    async release(signal) {
      if (released) return
      released = true
      await withLock(`${mountPoint}.lock`, signal, async () => {
        await unlink(holder).catch(() => undefined)
        if ((await liveHolders(`${mountPoint}.holders`)) > 0) return
        if (!(await mountedHere(mountPoint, location, options))) return
        await runMount(unmountCommand(mountPoint), location, { ...options, signal }, undefined, 'unmount')
      })
    },
  }
}

/** Mounts `location` at `mountPoint` unless it is mounted there already (by an earlier open). */
async function ensureMounted(
  location: NasLocation,
  mountPoint: string,
  user: string | undefined,
  options: NasMountOptions,
) {
  if (await mountedHere(mountPoint, location, options)) return
  // Something below an empty mount point was written while nothing was mounted: never hide it.
  if ((await readdir(mountPoint)).length > 0) {
    throw new MountError(
      'mount-point',
      `cannot mount ${nasName(location)}: ${mountPoint} is not empty while nothing is mounted there; ` +
        'look at what is in it and remove it',
    )
  }
  if (location.protocol === 'nfs') return runMount(mountCommand(location, mountPoint), location, options)
  const password = options.password
  if (password === undefined || password === '') {
    throw new MountError('no-credentials', `cannot mount ${nasName(location)}: set STRATA_SMB_PASSWORD`)
  }
  // A private directory (mkdtemp makes it 0700) holding a 0600 file, removed as soon as mount returns.
  const secrets = await mkdtemp(join(tmpdir(), 'strata-cifs-'))
  try {
    const file = join(secrets, 'credentials')
    await writeFile(
      file,
      credentialsFileText(user ?? '', password, location.protocol === 'smb' ? location.domain : undefined),
      {
        mode: FILE_MODE,
        flag: 'wx',
      },
    )
    await runMount(mountCommand(location, mountPoint, file), location, options, password)
  } finally {
    await rm(secrets, { recursive: true, force: true })
  }
  if (!(await mountedHere(mountPoint, location, options))) {
    throw new MountError(
      'failed',
      `mounting ${nasName(location)} at ${mountPoint} succeeded but nothing is mounted there`,
    )
  }
}

async function runMount(
  command: Command,
  location: NasLocation,
  options: NasMountOptions,
  password?: string,
  what: 'mount' | 'unmount' = 'mount',
): Promise<void> {
  const result = await options
    .runner(command.command, command.args, {
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? 60_000,
    })
    .catch((error: unknown) => {
      throwIfAborted(options.signal)
      throw spawnFailure(location, command.command, error)
    })
  if (result.code === 0) return
  if (what === 'mount') throw mountFailure(location, result, password)
  const said = result.stderr.trim().split('\n')[0] ?? ''
  const busy = /busy/i.test(said)
  throw new MountError(
    busy ? 'busy' : 'failed',
    `cannot unmount ${nasName(location)} from ${command.args[0]}: ${said}`,
  )
}

/** Whether `location` is what is mounted at `mountPoint`; another source there is an error. */
async function mountedHere(
  mountPoint: string,
  location: NasLocation,
  options: NasMountOptions,
): Promise<boolean> {
  const entry = mountAt(parseMountTable(await options.readMountTable()), mountPoint)
  if (entry === undefined) return false
  if (entry.source !== mountSource(location)) {
    throw new MountError(
      'mount-point',
      `cannot use ${nasName(location)}: ${mountPoint} holds a mount of ${entry.source} (${entry.fsType})`,
    )
  }
  return true
}

/** Counts the holders whose process is alive, deleting the others (left by killed processes). */
async function liveHolders(dir: string): Promise<number> {
  let live = 0
  for (const name of await readdir(dir).catch(() => [])) {
    if (isProcessAlive(Number(name.split('-')[0]))) live++
    else await unlink(join(dir, name)).catch(() => undefined)
  }
  return live
}

/** One process at a time mounts, unmounts or counts holders; a lock of a dead process is taken over. */
async function withLock<T>(lock: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const started = performance.now()
  for (let round = 0; ; round++) {
    throwIfAborted(signal)
    const handle = await open(lock, 'wx', FILE_MODE).catch((error: unknown) => {
      if (errorCode(error) !== 'EEXIST') throw error
      return undefined
    })
    if (handle !== undefined) {
      await handle.writeFile(String(process.pid)).finally(() => handle.close())
      break
    }
    const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim())
    if (Number.isSafeInteger(owner) && owner > 0 && !isProcessAlive(owner)) {
      await unlink(lock).catch(() => undefined)
      continue
    }
    if (performance.now() - started > LOCK_WAIT_MS) {
      throw new MountError(
        'busy',
        `${lock} is held by process ${owner || '?'} for more than ${LOCK_WAIT_MS / 1000} s`,
      )
    }
    await sleep(Math.min(20 * 2 ** Math.min(round, 4), 300), signal)
  }
  try {
    return await fn()
  } finally {
    await unlink(lock).catch(() => undefined)
  }
}

function smbUser(location: NasLocation & { protocol: 'smb' }, options: NasMountOptions): string {
  const user = location.user ?? options.user
  if (user === undefined || user === '') {
    throw new MountError(
      'no-credentials',
      `cannot mount ${nasName(location)}: give a user (smb://USER@host/...) or set STRATA_SMB_USERNAME`,
    )
  }
  return user
}

function existsOk(error: unknown): void {
  if (errorCode(error) !== 'EEXIST') throw error
}
