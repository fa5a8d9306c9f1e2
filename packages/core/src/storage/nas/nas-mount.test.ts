// The mount lifecycle with a fake mount command and mount table: who mounts, what mount.cifs is given
// (never the password on its command line), reuse, holders, the last close unmounting, and each failure
// as a typed error that leaves nothing behind. The real mount and unmount: nas-mount.integration.test.ts.
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../../testing/index.js'
import type { CommandResult, CommandRunner } from './mount-commands.js'
import { mountNas, type NasMountOptions } from './nas-mount.js'
import { parseNasLocation } from './nas-location.js'

const PASSWORD = 'correct horse'
const smb = parseNasLocation('smb://backup@nas.lan:4450/Backups/strata')

interface Call {
  readonly command: string
  readonly args: readonly string[]
  readonly credentials?: { text: string; mode: number; dirMode: number }
}

/** A mount table and a runner that "mounts" by adding a line to it, or answers what it is told. */
function fakeSystem(answer?: (command: string) => CommandResult | undefined) {
  const mounts = new Map<string, string>()
  const calls: Call[] = []
  const runner: CommandRunner = async (command, args) => {
    const options = args[3] ?? ''
    const file = /credentials=([^,]+)/.exec(options)?.[1]
    const credentials = file && {
      text: await readFile(file, 'utf8'),
      mode: (await stat(file)).mode & 0o777,
      dirMode: (await stat(dirname(file))).mode & 0o777,
    }
    calls.push({ command, args, ...(credentials ? { credentials } : {}) })
    const given = answer?.(command)
    if (given !== undefined) return given
    if (command === 'umount') mounts.delete(args[0] ?? '')
    else mounts.set(args[1] ?? '', args[0] ?? '')
    return { code: 0, stdout: '', stderr: '' }
  }
  const readMountTable = async () =>
    [...mounts]
      .map(([point, source], i) => `${40 + i} 1 0:${60 + i} / ${point} rw - cifs ${source} rw`)
      .join('\n')
  return { mounts, calls, runner, readMountTable }
}

let scratch: Scratch
beforeEach(async () => {
  scratch = await scratchDir('strata-nas-mount-')
})
afterEach(async () => {
  await scratch[Symbol.asyncDispose]()
})

function options(
  system: ReturnType<typeof fakeSystem>,
  more: Partial<NasMountOptions> = {},
): NasMountOptions {
  return {
    mountDir: scratch.path('mounts'),
    runner: system.runner,
    readMountTable: system.readMountTable,
    isRoot: true,
    password: PASSWORD,
    ...more,
  }
}

describe('mountNas', () => {
  it('mounts through a private credentials file, never with the password on the command line', async () => {
    const system = fakeSystem()
    const mount = await mountNas(smb, options(system))
    expect(mount.mountPoint).toMatch(new RegExp(`^${scratch.path('mounts')}/smb-nas\\.lan-[0-9a-f]{12}$`))
    expect(mount.root).toBe(join(mount.mountPoint, 'strata'))
    expect(system.calls).toHaveLength(1)
    const [call] = system.calls
    expect(call).toMatchObject({
      command: 'mount.cifs',
      args: ['//nas.lan/Backups', mount.mountPoint, '-o', expect.any(String)],
    })
    expect(call?.args.join(' ')).not.toContain(PASSWORD)
    expect(call?.credentials).toEqual({
      text: `username=backup\npassword=${PASSWORD}\n`,
      mode: 0o600,
      dirMode: 0o700,
    })
    // The file went away with its directory as soon as mount.cifs returned.
    const file = /credentials=([^,]+)/.exec(call?.args[3] ?? '')?.[1] ?? ''
    await expect(stat(dirname(file))).rejects.toMatchObject({ code: 'ENOENT' })
    expect((await stat(scratch.path('mounts'))).mode & 0o777).toBe(0o700)
    await mount.release()
    expect(system.calls.map((c) => c.command)).toEqual(['mount.cifs', 'umount'])
  })

  it('shares one mount among opens: the last release unmounts it', async () => {
    const system = fakeSystem()
    const first = await mountNas(smb, options(system))
    const second = await mountNas(
      parseNasLocation('smb://backup@nas.lan:4450/Backups/other'),
      options(system),
    )
    expect(second.mountPoint).toBe(first.mountPoint)
    expect(system.calls.map((c) => c.command)).toEqual(['mount.cifs'])
    await first.release()
    await first.release() // twice: still one hold dropped
    expect(system.mounts.size).toBe(1)
    await second.release()
    expect(system.calls.map((c) => c.command)).toEqual(['mount.cifs', 'umount'])
    expect(system.mounts.size).toBe(0)
  })

  it('reuses the mount a killed process left, drops its hold, and unmounts at the last release', async () => {
    const system = fakeSystem()
    const left = await mountNas(smb, options(system)) // its process "dies": its hold stays
    const holders = `${left.mountPoint}.holders`
    await writeFile(join(holders, `999999999-deadbeef`), '') // a process that no longer exists
    const next = await mountNas(smb, options(system))
    expect(system.calls.map((c) => c.command)).toEqual(['mount.cifs']) // reused, not mounted again
    await left.release() // the "dead" open's hold is ours in this test: drop it as its process would not
    await next.release()
    expect(system.calls.map((c) => c.command)).toEqual(['mount.cifs', 'umount'])
    expect(await readdir(holders)).toEqual([])
  })

  it('refuses to mount when not root, and says how to do without', async () => {
    const system = fakeSystem()
    const error = await mountNas(smb, options(system, { isRoot: false })).catch((e: unknown) => e)
    expect(error).toMatchObject({ reason: 'not-root', code: 'ACCESS_DENIED' })
    expect((error as Error).message).toMatch(
      /mount it yourself and give the mounted directory as the location/,
    )
    expect(system.calls).toEqual([])
  })

  it.each([
    [{ password: undefined }, /set STRATA_SMB_PASSWORD/],
    [{ password: '' }, /set STRATA_SMB_PASSWORD/],
  ])('needs a password for SMB (%j)', async (more, message) => {
    const system = fakeSystem()
    await expect(mountNas(smb, options(system, more))).rejects.toMatchObject({
      reason: 'no-credentials',
      code: 'INVALID_LOCATION',
      message: expect.stringMatching(message),
    })
    expect(system.calls).toEqual([])
  })

  it('needs a user for SMB: in the URL or STRATA_SMB_USERNAME', async () => {
    const system = fakeSystem()
    const anonymous = parseNasLocation('smb://nas.lan/Backups')
    await expect(mountNas(anonymous, options(system))).rejects.toMatchObject({ reason: 'no-credentials' })
    await (await mountNas(anonymous, options(system, { user: 'env-user' }))).release()
    expect(system.calls[0]?.credentials?.text).toMatch(/^username=env-user\n/)
  })

  it.each([
    ['mount error(13): Permission denied', 'bad-credentials', 'ACCESS_DENIED'],
    [
      'mount error(113): could not connect to 10.0.0.5Unable to find suitable address.',
      'unreachable',
      'TRANSIENT',
    ],
  ])(
    'turns %j into a typed error and leaves no hold, no mount and no secret',
    async (stderr, reason, code) => {
      const system = fakeSystem((command) =>
        command === 'mount.cifs' ? { code: 32, stdout: '', stderr } : undefined,
      )
      const error = await mountNas(smb, options(system)).catch((e: unknown) => e)
      expect(error).toMatchObject({
        reason,
        code,
        message: expect.stringContaining('smb://backup@nas.lan:4450/Backups/strata'),
      })
      expect((error as Error).message).not.toContain(PASSWORD)
      const mountDir = scratch.path('mounts')
      const left = await readdir(mountDir, { recursive: true })
      expect(left.filter((p) => p.includes('.holders/') || p.endsWith('.lock'))).toEqual([])
      const file = /credentials=([^,]+)/.exec(system.calls[0]?.args[3] ?? '')?.[1] ?? ''
      await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' })
    },
  )

  it('refuses a mount point where another share is mounted, or which holds files while unmounted', async () => {
    const system = fakeSystem()
    const mount = await mountNas(smb, options(system))
    system.mounts.set(mount.mountPoint, '//elsewhere/Other')
    await expect(mountNas(smb, options(system))).rejects.toMatchObject({
      reason: 'mount-point',
      message: expect.stringMatching(/holds a mount of \/\/elsewhere\/Other/),
    })
    system.mounts.clear()
    await mkdir(join(mount.mountPoint, 'strata'))
    await expect(mountNas(smb, options(system))).rejects.toMatchObject({
      reason: 'mount-point',
      message: expect.stringMatching(/is not empty while nothing is mounted there/),
    })
  })

  it('mounts NFS without any credentials file', async () => {
    const system = fakeSystem()
    const nfs = parseNasLocation('nfs://nas.lan/export/strata')
    const mount = await mountNas(nfs, options(system, { password: undefined }))
    expect(mount.root).toBe(mount.mountPoint)
    expect(system.calls).toEqual([
      {
        command: 'mount.nfs',
        args: ['nas.lan:/export/strata', mount.mountPoint, '-o', 'nosuid,nodev,noexec,hard,nolock'],
      },
    ])
    await mount.release()
  })

  it('reports a missing mount command as not installed', async () => {
    const runner: CommandRunner = async (command) => {
      throw Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' })
    }
    await expect(mountNas(smb, options(fakeSystem(), { runner }))).rejects.toMatchObject({
      reason: 'not-installed',
    })
  })
})
