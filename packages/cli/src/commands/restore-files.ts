// `strata restore files list|ls|get`: file-level restore from a restore point. Each command starts one
// libguestfs appliance on the point's disk (served over NBD from the repository, never written), does
// its work and stops it; warnings (no KVM here: TCG) and progress go to stderr.
import { runRootTask } from '@strata/core/engine'
import { resolvePoint } from '@strata/core/repository'
import {
  FileRestoreSession,
  exportFiles,
  type DirectoryPage,
  type ExportResult,
  type FileEntry,
  type FilesystemInfo,
} from '@strata/core/restore'
import type { TaskContext } from '@strata/core/shared'
import {
  UsageError,
  type Command,
  type CommandContext,
  type OptionSpec,
  type ParsedArgs,
} from '../command.js'
import { str } from './backup-common.js'
import { progressRenderer } from './backup-progress.js'
import { formatBytes, openRepository, parseCount, repoOption } from './repo-common.js'

const sessionOptions: OptionSpec = {
  ...repoOption,
  point: { type: 'string' },
  disk: { type: 'string' },
  fs: { type: 'string' },
}

/** Opens the repository and a session on the point's disk, runs `fn` as a task, closes the session. */
async function withSession<T>(
  args: ParsedArgs,
  ctx: CommandContext,
  name: string,
  fn: (session: FileRestoreSession, task: TaskContext) => Promise<T>,
): Promise<T> {
  const point = str(args.values.point)
  if (point === undefined) throw new UsageError('--point ID is required')
  const disk = parseCount(args.values.disk, '--disk') ?? 0
  const repository = await openRepository(args, ctx.signal)
  const ref = await resolvePoint(repository, point, ctx.signal)
  const progress = progressRenderer(ctx.stderr, ctx.json)
  try {
    return await runRootTask(
      { emit: progress.onEvent, signal: ctx.signal },
      name,
      async (task) => {
        const session = await FileRestoreSession.open({ repository, ref, disk, task, signal: ctx.signal })
        try {
          return await fn(session, task)
        } finally {
          await session.close()
        }
      },
      { point, disk },
    )
  } finally {
    progress.stop()
  }
}

export const restoreFilesList: Command<{ filesystems: FilesystemInfo[] }> = {
  path: ['restore', 'files', 'list'],
  usage: 'restore files list --repo REPO --point ID --disk N',
  summary:
    'List the filesystems of a restore point disk (partitions, LVM volumes): device, type, size, label',
  positionals: 0,
  options: sessionOptions,
  async run(args, ctx) {
    return { filesystems: await withSession(args, ctx, 'files', (s) => s.filesystems(ctx.signal)) }
  },
  format: ({ filesystems }) =>
    filesystems
      .map((f) => `${f.device.padEnd(24)} ${f.type.padEnd(8)} ${formatSize(f.size).padStart(10)}  ${f.label}`)
      .join('\n'),
}

export const restoreFilesLs: Command<DirectoryPage> = {
  path: ['restore', 'files', 'ls'],
  usage: 'restore files ls --repo REPO --point ID --disk N [--fs DEVICE] [PATH] [--limit N] [--offset N]',
  summary:
    'List a folder of a restore point disk (type, size, mode, mtime; links shown, never followed), a page ' +
    'at a time (--limit, default 1000; --offset from the previous page)',
  positionals: [0, 1],
  options: { ...sessionOptions, limit: { type: 'string' }, offset: { type: 'string' } },
  async run(args, ctx) {
    const limit = parseCount(args.values.limit, '--limit')
    const offset = parseCount(args.values.offset, '--offset')
    const path = args.positionals[0] ?? '/'
    return withSession(args, ctx, 'files', (s) =>
      s.list(path, { fs: str(args.values.fs), limit, offset, signal: ctx.signal }),
    )
  },
  format: (page) => {
    const lines = page.entries.map(formatEntry)
    const shown = `${page.fs}:${page.path}: entries ${page.offset + 1}-${page.offset + page.entries.length} of ${page.total}`
    const next = page.nextOffset === undefined ? '' : ` (next page: --offset ${page.nextOffset})`
    return [...lines, `${page.total === 0 ? `${page.fs}:${page.path}: empty` : shown}${next}`].join('\n')
  },
}

export const restoreFilesGet: Command<ExportResult> = {
  path: ['restore', 'files', 'get'],
  usage: 'restore files get --repo REPO --point ID --disk N [--fs DEVICE] PATH... --to OUT',
  summary:
    'Copy files and folders of a restore point disk into OUT: a new (or empty) directory, or an archive ' +
    'chosen by its extension (.tar, .tar.gz, .zip), streamed as it is read',
  positionals: [1, 1000],
  options: { ...sessionOptions, to: { type: 'string' } },
  async run(args, ctx) {
    const to = str(args.values.to)
    if (to === undefined) throw new UsageError('--to DIR|FILE.tar|FILE.tar.gz|FILE.zip is required')
    return withSession(args, ctx, 'files', (session, task) =>
      task.child('get', (child) =>
        exportFiles(session, args.positionals, to, {
          fs: str(args.values.fs),
          signal: ctx.signal,
          onProgress: ({ bytes }) => child.progress({ done: bytes }),
        }),
      ),
    )
  },
  format: (r) =>
    `${r.to} (${r.format}): ${r.files} files (${formatBytes(r.bytes)}), ${r.directories} folders, ` +
    `${r.symlinks} links from ${r.fs}` +
    (r.skipped > 0 ? `; ${r.skipped} devices, FIFOs or sockets skipped` : ''),
}

function formatEntry(e: FileEntry): string {
  const mode = `${TYPE_CHARS[e.type] ?? '?'}${(e.mode & 0o7777).toString(8).padStart(4, '0')}`
  const name = e.target === undefined ? e.name : `${e.name} -> ${e.target}`
  return `${mode} ${String(e.size).padStart(12)} ${e.mtime.slice(0, 19).replace('T', ' ')}  ${JSON.stringify(name).slice(1, -1)}`
}

const TYPE_CHARS: Record<string, string> = {
  file: '-',
  directory: 'd',
  symlink: 'l',
  block: 'b',
  char: 'c',
  fifo: 'p',
  socket: 's',
}

function formatSize(size: number | undefined): string {
  return size === undefined ? '-' : formatBytes(size)
}
