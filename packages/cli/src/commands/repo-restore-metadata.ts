// `strata repo restore-metadata`: a file of a metadata job's restore point written out — a pool's
// database dump, to apply with XAPI (printed: `xe pool-restore-database`, dry run first), or the
// server's configuration. The file is checked against its manifest's checksum before it is written.
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { POOL_DUMP_FILE } from '@strata/core/engine'
import { readFilePoint, readPointFile, resolvePoint } from '@strata/core/repository'
import { UsageError, type Command } from '../command.js'
import { str } from './backup-common.js'
import { forceOption, openRepository, repoOption } from './repo-common.js'

interface Result {
  readonly point: string
  readonly file: string
  readonly out: string
  readonly bytes: number
  /** For a pool's database: how to apply it. */
  readonly apply?: readonly string[]
}

export const repoRestoreMetadata: Command<Result> = {
  path: ['repo', 'restore-metadata'],
  usage: 'repo restore-metadata --repo PATH|URL --point ID --out FILE [--file NAME] [--force]',
  summary: "Write a file of a metadata point (a pool's database dump by default) and say how to apply it",
  positionals: 0,
  options: {
    ...repoOption,
    ...forceOption,
    point: { type: 'string' },
    out: { type: 'string' },
    file: { type: 'string' },
  },
  async run(args, { signal }) {
    const point = str(args.values.point)
    const out = str(args.values.out)
    if (point === undefined || out === undefined)
      throw new UsageError('--point ID and --out FILE are required')
    const repo = await openRepository(args, signal)
    const ref = await resolvePoint(repo, point, signal)
    const { files } = await readFilePoint(repo, ref, signal)
    const file =
      str(args.values.file) ??
      (files.some((f) => f.name === POOL_DUMP_FILE) ? POOL_DUMP_FILE : files[0]?.name)
    if (file === undefined) throw new UsageError(`restore point ${ref.pointId} holds no file`)
    const data = await readPointFile(repo, ref, file, signal)
    // Never over an existing file unless --force: a dump is what an admin restores a pool from.
    const flags =
      constants.O_WRONLY |
      constants.O_CREAT |
      (args.values.force === true ? constants.O_TRUNC : constants.O_EXCL)
    const handle = await open(out, flags, 0o600)
    try {
      await handle.writeFile(data)
    } finally {
      await handle.close()
    }
    return {
      point: ref.pointId,
      file,
      out,
      bytes: data.length,
      ...(file === POOL_DUMP_FILE ? { apply: applySteps(out) } : {}),
    }
  },
  format: (r) =>
    [`wrote ${r.file} of point ${r.point} to ${r.out} (${r.bytes} bytes)`, ...(r.apply ?? [])].join('\n'),
}

/** XAPI's commands, run on the pool master (or a host that is to become one) with the file copied there. */
function applySteps(out: string): string[] {
  const name = out.split('/').at(-1)!
  return [
    'to apply it, copy it to the pool master, then check it without changing anything:',
    `  xe pool-restore-database file-name=${name} dry-run=true`,
    'and, if that succeeds, restore it (the toolstack restarts on the restored database):',
    `  xe pool-restore-database file-name=${name}`,
  ]
}
