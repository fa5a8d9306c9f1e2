// A whole-disk ext4 filesystem (no partition table) holding a tree of files, for the tests of file
// restore: the tree written out under the scratch directory, a sparse image of the size asked, and
// mke2fs -d to make the filesystem from the tree (e2fsprogs; no mount, no root).
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { requireBinary } from './binaries.js'
import { run } from './process-helpers.js'
import type { Scratch } from './scratch.js'

/** A regular file's content, or a symbolic link to `symlink` (its target as written, not followed). */
export type Ext4Entry = string | Uint8Array | { readonly symlink: string }

export interface Ext4ImageOptions {
  /** The image's file name in the scratch directory; its tree goes beside it (`<name>.tree`). */
  readonly name?: string
  /** The filesystem's label (mke2fs -L). */
  readonly label?: string
  /** The image's size in bytes. */
  readonly size?: number
  readonly signal?: AbortSignal
}

/** Makes the image from `tree` (relative path → entry) and answers its path. */
export async function ext4Image(
  scratch: Scratch,
  tree: Readonly<Record<string, Ext4Entry>>,
  { name = 'disk.raw', label = 'data', size = 32 * 1024 * 1024, signal }: Ext4ImageOptions = {},
): Promise<string> {
  const mke2fs = requireBinary('mke2fs')
  const root = scratch.path(`${name}.tree`)
  await mkdir(root, { recursive: true })
  for (const [path, entry] of Object.entries(tree)) {
    const full = scratch.path(`${name}.tree`, path)
    await mkdir(dirname(full), { recursive: true })
    if (typeof entry === 'object' && 'symlink' in entry) await symlink(entry.symlink, full)
    else await writeFile(full, entry, { signal })
  }
  const image = scratch.path(name)
  await writeFile(image, '', { signal })
  await truncate(image, size)
  await run(
    mke2fs,
    ['-q', '-t', 'ext4', '-L', label, '-d', root, image],
    signal ?? AbortSignal.timeout(60_000),
  )
  return image
}
