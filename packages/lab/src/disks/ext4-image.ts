// Real filesystems for seed disks and guest file writes: an MBR with one Linux partition at 1 MiB and an
// ext4 filesystem made by mke2fs -d (e2fsprogs) at that offset; files are added later with debugfs.
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const PARTITION_OFFSET = 1024 * 1024

/** A classic MBR with one primary partition (type 0x83) from LBA 2048 to the end of the disk. */
export function mbr(diskSize: number): Buffer {
  const sector = Buffer.alloc(512)
  const entry = 446
  sector[entry + 4] = 0x83
  // CHS fields set to the "use LBA" sentinel, as modern partitioners do.
  sector.set([0xfe, 0xff, 0xff], entry + 1)
  sector.set([0xfe, 0xff, 0xff], entry + 5)
  sector.writeUInt32LE(PARTITION_OFFSET / 512, entry + 8)
  sector.writeUInt32LE((diskSize - PARTITION_OFFSET) / 512, entry + 12)
  sector.writeUInt32LE(0x5354524c, 440) // disk signature "STRL"
  sector[510] = 0x55
  sector[511] = 0xaa
  return sector
}

/** Makes a raw disk image file: MBR + ext4 partition holding `files` (path → content). */
export async function makeExt4Disk(
  image: string,
  size: number,
  label: string,
  files: Record<string, string | Uint8Array>,
): Promise<void> {
  const src = await mkdtemp(join(tmpdir(), 'strata-lab-fs-'))
  try {
    for (const [path, content] of Object.entries(files)) {
      const full = join(src, path)
      await mkdir(dirname(full), { recursive: true })
      await writeFile(full, content)
    }
    const fh = await open(image, 'w')
    await fh.truncate(size)
    await fh.write(mbr(size), 0, 512, 0)
    await fh.close()
    const blocks = (size - PARTITION_OFFSET) / 4096
    await run('mke2fs', [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-b',
      '4096',
      '-L',
      label,
      '-E',
      `offset=${PARTITION_OFFSET}`,
      '-d',
      src,
      image,
      String(blocks),
    ])
  } finally {
    await rm(src, { recursive: true, force: true })
  }
}

/** Writes a file into an ext4 filesystem image (a bare filesystem, no partition table). */
export async function debugfsWrite(fsImage: string, path: string, content: Uint8Array): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-lab-file-'))
  try {
    const src = join(dir, 'content')
    await writeFile(src, content)
    const parts = path.split('/').filter((p) => p !== '')
    const cmds = parts.slice(0, -1).map((_, i) => `mkdir /${parts.slice(0, i + 1).join('/')}`)
    cmds.push(`rm /${parts.join('/')}`, `write ${src} /${parts.join('/')}`)
    await writeFile(join(dir, 'cmds'), `${cmds.join('\n')}\n`)
    await run('debugfs', ['-w', '-f', join(dir, 'cmds'), fsImage])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Reads files out of an ext4 filesystem at `offset` in a disk image (one debugfs run, its `?offset=`
 * I/O option); files that are missing are left out of the answer.
 */
export async function debugfsReadFiles(
  diskImage: string,
  offset: number,
  paths: string[],
): Promise<Map<string, Buffer>> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-lab-read-'))
  try {
    const cmds = paths.map((p, i) => `dump -p /${p.replace(/^\/+/, '')} ${join(dir, `f${i}`)}`)
    await writeFile(join(dir, 'cmds'), `${cmds.join('\n')}\n`)
    await run('debugfs', ['-f', join(dir, 'cmds'), `${diskImage}?offset=${offset}`])
    const out = new Map<string, Buffer>()
    for (const [i, p] of paths.entries()) {
      const content = await readFile(join(dir, `f${i}`)).catch(() => undefined)
      if (content !== undefined) out.set(p, content)
    }
    return out
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
