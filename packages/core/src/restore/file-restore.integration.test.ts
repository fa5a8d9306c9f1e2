// File-level restore against real filesystems: disk images made with guestfish (GPT holding ext4, XFS,
// FAT, NTFS and LVM; MBR holding LVM and a damaged ext4), backed up into a repository, then listed,
// browsed and copied out through one appliance per disk. Appliances boot slowly without KVM (about
// 20 s under TCG), so each disk gets one session shared by its cases.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore } from '../storage/index.js'
import { PointWriter, Repository, type PointRef } from '../repository/index.js'
import { requireBinary, scratchDir, type Scratch } from '../testing/index.js'
import { FileRestoreSession } from './file-session.js'
import { exportFiles } from './file-export.js'

const exec = promisify(execFile)
const MiB = 1024 * 1024
const SECTORS = MiB / 512
let scratch: Scratch
let repo: Repository
const points: Record<'gpt' | 'mbr', PointRef> = {} as never
const random = randomBytes(3 * MiB + 123)

/** What goes into each filesystem: a text file, 3 MiB of random bytes, a nested folder, odd names. */
async function makeTree(dir: string, links: boolean): Promise<void> {
  await mkdir(join(dir, 'nested', 'deeper'), { recursive: true })
  await writeFile(join(dir, 'hello.txt'), 'hello from the restore point\n')
  await writeFile(join(dir, 'random.bin'), random)
  await writeFile(join(dir, 'nested', 'deeper', 'name with spaces.txt'), 'spaces\n')
  if (!links) return
  await symlink('../../../etc/passwd', join(dir, 'evil'))
  await symlink('/etc', join(dir, 'abs'))
  await mkdir(join(dir, 'big'))
  for (let i = 0; i < 2500; i++) await writeFile(join(dir, 'big', `f${String(i).padStart(4, '0')}`), '')
}

/** Both disks in one guestfish run (one appliance boot). Sizes in sectors; XFS wants 300 MiB at least. */
async function buildImages(): Promise<void> {
  const gpt = [40, 320, 40, 40, 60].map((m) => m * SECTORS)
  const parts = (sizes: number[]) =>
    sizes.map((size, i) => 2048 + sizes.slice(0, i).reduce((a, b) => a + b, 0))
  const [g, m] = [parts(gpt), parts([40 * SECTORS, 20 * SECTORS])]
  const files = scratch.path('files')
  const plain = scratch.path('plain')
  const script = [
    `sparse ${scratch.path('gpt.raw')} 600M`,
    `sparse ${scratch.path('mbr.raw')} 64M`,
    'run',
    'part-init /dev/sda gpt',
    ...g.map((start, i) => `part-add /dev/sda p ${start} ${start + gpt[i]! - 1}`),
    'mkfs ext4 /dev/sda1 label:rootfs',
    'mkfs xfs /dev/sda2 label:data',
    'mkfs vfat /dev/sda3 label:EFI',
    'mkfs ntfs /dev/sda4 label:windows',
    'pvcreate /dev/sda5',
    'vgcreate vga /dev/sda5',
    'lvcreate lv vga 40',
    'mkfs ext4 /dev/vga/lv label:lvgpt',
    'part-init /dev/sdb mbr',
    `part-add /dev/sdb p ${m[0]} ${m[0]! + 40 * SECTORS - 1}`,
    `part-add /dev/sdb p ${m[1]} ${m[1]! + 20 * SECTORS - 1}`,
    'pvcreate /dev/sdb1',
    'vgcreate vgm /dev/sdb1',
    'lvcreate data vgm 24',
    'mkfs ext4 /dev/vgm/data label:lvmbr',
    'mkfs ext4 /dev/sdb2 label:broken',
    ...[
      ['/dev/sda1', files],
      ['/dev/sda2', files],
      ['/dev/sda3', plain],
      ['/dev/sda4', plain],
      ['/dev/vga/lv', files],
      ['/dev/vgm/data', files],
    ].flatMap(([device, dir]) => [`mount ${device} /`, `copy-in ${dir} /`, 'umount-all']),
  ]
  await writeFile(scratch.path('build.fish'), `${script.join('\n')}\n`)
  await exec('guestfish', ['-f', scratch.path('build.fish')], {
    env: { ...process.env, LIBGUESTFS_BACKEND: 'direct', LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' },
    timeout: 400_000,
  })
  // Damage the second MBR partition past its superblock: blkid still says ext4, mounting fails.
  const handle = await open(scratch.path('mbr.raw'), 'r+')
  await handle.write(randomBytes(512 * 1024), 0, 512 * 1024, m[1]! * 512 + 2048)
  await handle.close()
}

beforeAll(async () => {
  for (const tool of ['guestfish', 'setpriv', 'mkfifo', 'qemu-system-x86_64']) requireBinary(tool)
  scratch = await scratchDir('strata-file-restore-')
  await makeTree(scratch.path('files'), true)
  await makeTree(scratch.path('plain'), false)
  await buildImages()
  repo = await Repository.create(new LocalStore(scratch.path('repo')), { chunkSize: 1024 * 1024 })
  points.gpt = await backupFile(scratch.path('gpt.raw'))
  points.mbr = await backupFile(scratch.path('mbr.raw'))
}, 600_000)
afterAll(() => scratch?.[Symbol.asyncDispose]())

/** A restore point of an image file, read a chunk at a time (the GPT image is 600 MiB, mostly holes). */
async function backupFile(path: string): Promise<PointRef> {
  const handle = await open(path, 'r')
  const point = await PointWriter.begin(repo, { vm: 'files', metadata: { name: path } })
  try {
    const { size } = await handle.stat()
    const writer = point.openDisk('xvda', size)
    for (let i = 0; i < writer.chunkCount; i++) {
      const chunk = Buffer.alloc(writer.chunkLength(i))
      await handle.read(chunk, 0, chunk.length, i * repo.chunkSize)
      await writer.putChunk(i, chunk)
    }
    return await point.commit()
  } finally {
    await handle.close()
  }
}

/** Members of the process group the session's guestfish leads (qemu included). */
async function groupMembers(pgid: number): Promise<string> {
  const { stdout } = await exec('ps', ['-o', 'pid=,comm=', '-g', String(pgid)]).catch(() => ({ stdout: '' }))
  return stdout.trim()
}

async function expectTree(dir: string, links: boolean): Promise<void> {
  expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('hello from the restore point\n')
  expect((await readFile(join(dir, 'random.bin'))).equals(random)).toBe(true)
  expect(await readFile(join(dir, 'nested', 'deeper', 'name with spaces.txt'), 'utf8')).toBe('spaces\n')
  if (links) {
    expect((await lstat(join(dir, 'evil'))).isSymbolicLink()).toBe(true)
    expect(await readlink(join(dir, 'evil'))).toBe('../../../etc/passwd')
  }
}

describe('file restore from a GPT disk (ext4, XFS, FAT, NTFS, LVM)', () => {
  let session: FileRestoreSession
  let pgid: number
  beforeAll(async () => {
    session = await FileRestoreSession.open({ repository: repo, ref: points.gpt, disk: 0 })
    pgid = session.pid!
    expect(await groupMembers(pgid)).toMatch(/qemu/)
  }, 400_000)
  afterAll(async () => {
    await session?.close()
    expect(await groupMembers(pgid)).toBe('')
  }, 60_000)

  it('lists every filesystem with its type, size and label', { timeout: 180_000 }, async () => {
    const found = await session.filesystems()
    expect(found.map(({ device, type, label }) => ({ device, type, label }))).toEqual(
      expect.arrayContaining([
        { device: '/dev/sda1', type: 'ext4', label: 'rootfs' },
        { device: '/dev/sda2', type: 'xfs', label: 'data' },
        { device: '/dev/sda3', type: 'vfat', label: 'EFI' },
        { device: '/dev/sda4', type: 'ntfs', label: 'windows' },
        { device: '/dev/vga/lv', type: 'ext4', label: 'lvgpt' },
      ]),
    )
    expect(found.find((f) => f.device === '/dev/sda2')?.size).toBe(320 * MiB)
  })

  it.each([
    ['/dev/sda1', 'files', true],
    ['/dev/sda2', 'files', true],
    ['/dev/sda3', 'plain', false],
    ['/dev/sda4', 'plain', false],
    ['/dev/vga/lv', 'files', true],
  ] as const)('browses %s and copies its files out byte for byte', async (fs, top, links) => {
    const page = await session.list(`/${top}`, { fs })
    expect(page.entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(['hello.txt', 'random.bin', 'nested', ...(links ? ['evil', 'abs', 'big'] : [])]),
    )
    expect(page.entries.find((e) => e.name === 'random.bin')).toMatchObject({
      type: 'file',
      size: random.length,
    })
    const out = scratch.path(`out-${fs.replaceAll('/', '_')}`)
    const result = await exportFiles(session, [`/${top}`], out, { fs })
    expect(result).toMatchObject({ format: 'directory', fs })
    await expectTree(join(out, top), links)
  })

  it('pages through a folder of 2500 entries', async () => {
    const names: string[] = []
    let offset: number | undefined = 0
    while (offset !== undefined) {
      const page = await session.list('/files/big', { fs: '/dev/sda1', limit: 1000, offset })
      expect(page.total).toBe(2500)
      names.push(...page.entries.map((e) => e.name))
      offset = page.nextOffset
    }
    expect(names).toEqual(Array.from({ length: 2500 }, (_, i) => `f${String(i).padStart(4, '0')}`))
  })

  it('shows links as links and never goes through one', async () => {
    const evil = await session.list('/files/evil', { fs: '/dev/sda1' })
    expect(evil.entries).toEqual([
      expect.objectContaining({ type: 'symlink', target: '../../../etc/passwd' }),
    ])
    await expect(session.list('/files/abs/passwd', { fs: '/dev/sda1' })).rejects.toMatchObject({
      code: 'SYMLINK_NOT_FOLLOWED',
    })
    await expect(
      exportFiles(session, ['/files/abs/passwd'], scratch.path('x'), { fs: '/dev/sda1' }),
    ).rejects.toMatchObject({
      code: 'SYMLINK_NOT_FOLLOWED',
    })
  })

  it('streams folders into .zip and .tar.gz archives', async () => {
    const zip = scratch.path('files.zip')
    await exportFiles(session, ['/files/nested', '/files/random.bin', '/files/evil'], zip, {
      fs: '/dev/sda1',
    })
    await exec('unzip', ['-q', zip, '-d', scratch.path('unzipped')])
    expect((await readFile(scratch.path('unzipped/random.bin'))).equals(random)).toBe(true)
    expect(await readFile(scratch.path('unzipped/nested/deeper/name with spaces.txt'), 'utf8')).toBe(
      'spaces\n',
    )
    expect(await readlink(scratch.path('unzipped/evil'))).toBe('../../../etc/passwd')
    const tgz = scratch.path('xfs.tar.gz')
    await exportFiles(session, ['/files'], tgz, { fs: '/dev/sda2' })
    await mkdir(scratch.path('untarred'))
    await exec('tar', ['-xzf', tgz, '-C', scratch.path('untarred')])
    await expectTree(scratch.path('untarred/files'), true)
  })

  it('refuses bad paths and filesystems with typed errors', async () => {
    await expect(session.list('/nope', { fs: '/dev/sda1' })).rejects.toMatchObject({ code: 'PATH_NOT_FOUND' })
    await expect(session.list('/files/../etc', { fs: '/dev/sda1' })).rejects.toMatchObject({
      code: 'INVALID_PATH',
    })
    await expect(session.list('files', { fs: '/dev/sda1' })).rejects.toMatchObject({ code: 'INVALID_PATH' })
    await expect(session.list('/')).rejects.toMatchObject({ code: 'FILESYSTEM_AMBIGUOUS' })
    await expect(session.list('/', { fs: '/dev/sdz9' })).rejects.toMatchObject({
      code: 'FILESYSTEM_NOT_FOUND',
    })
    await expect(session.list('/', { fs: '/dev/sda1', limit: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
    await expect(
      exportFiles(session, ['/files/hello.txt'], scratch.path('files'), { fs: '/dev/sda1' }),
    ).rejects.toMatchObject({
      code: 'OUTPUT_EXISTS',
    })
  })
})

describe('file restore from an MBR disk (LVM, a damaged ext4)', () => {
  it('reads the LVM volume and reports the damaged filesystem', async () => {
    const session = await FileRestoreSession.open({ repository: repo, ref: points.mbr, disk: 0 })
    const pgid = session.pid!
    try {
      const found = await session.filesystems()
      expect(found.map((f) => [f.device, f.type])).toEqual(
        expect.arrayContaining([
          ['/dev/vgm/data', 'ext4'],
          ['/dev/sda2', 'ext4'],
        ]),
      )
      await exportFiles(session, ['/files'], scratch.path('mbr-out'), { fs: '/dev/vgm/data' })
      await expectTree(scratch.path('mbr-out/files'), true)
      await expect(session.list('/', { fs: '/dev/sda2' })).rejects.toMatchObject({
        code: 'FILESYSTEM_UNREADABLE',
      })
    } finally {
      await session.close()
    }
    expect(await groupMembers(pgid)).toBe('')
    expect(session.closed).toBe(true)
  }, 400_000)
})
