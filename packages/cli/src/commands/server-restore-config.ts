// `strata server restore-config`: the server configuration a metadata job stored, written into a fresh
// data directory for `strata server --data-dir DIR` to start on (docs/metadata-backups.md). Refuses a
// non-empty directory unless --force. Prints each user's new password once, and what to enter again.
import { CONFIG_METADATA_ID } from '@strata/core/engine'
import { listPoints, readPointFile, resolvePoint, type Repository } from '@strata/core/repository'
import { CONFIG_FILE, parseConfig, restoreConfig, type RestoredConfig } from '@strata/server'
import { UsageError, type Command } from '../command.js'
import { str } from './backup-common.js'
import { dataDirArg, dataDirOptions } from './data-dir-option.js'
import { forceOption, openRepository, repoOption } from './repo-common.js'

interface Result extends RestoredConfig {
  readonly point: string
}

export const serverRestoreConfig: Command<Result> = {
  path: ['server', 'restore-config'],
  usage: 'server restore-config --repo PATH|URL --point ID|latest --data-dir DIR [--force]',
  summary:
    "Write the server configuration of a metadata job's restore point into a fresh data directory (no secrets: enter them again)",
  positionals: 0,
  options: { ...repoOption, ...dataDirOptions, ...forceOption, point: { type: 'string' } },
  async run(args, ctx) {
    const dataDir = dataDirArg(args, (line) => ctx.stderr.write(`strata: warning: ${line}\n`))
    if (dataDir === undefined)
      throw new UsageError('--data-dir DIR is required: the new server’s data directory')
    const wanted = str(args.values.point)
    if (wanted === undefined) throw new UsageError('--point ID (or latest) is required')
    const repo = await openRepository(args, ctx.signal)
    const ref = await configPoint(repo, wanted, ctx.signal)
    const bytes = await readPointFile(repo, ref, CONFIG_FILE, ctx.signal)
    const config = parseConfig(bytes, `the configuration in point ${ref.pointId}`)
    const restored = await restoreConfig(config, {
      dataDir,
      force: args.values.force === true,
      signal: ctx.signal,
    })
    return { point: ref.pointId, ...restored }
  },
  format: (r) =>
    [
      `restored the configuration of point ${r.point} into ${r.dataDir}:`,
      `  pools: ${r.pools.join(', ') || '-'}`,
      `  repositories: ${r.repositories.join(', ') || '-'}`,
      `  jobs: ${r.jobs.join(', ') || '-'}`,
      'users, with new passwords (shown once; change them after logging in):',
      ...r.users.map((u) => `  ${u.username} / ${u.password}`),
      'no secret was stored: start the server, then enter each pool’s password and each encrypted',
      'repository’s passphrase (and S3 keys) again before its jobs run (docs/metadata-backups.md)',
    ].join('\n'),
}

/** The point named, or with 'latest' the newest configuration point of the repository. */
async function configPoint(repo: Repository, wanted: string, signal: AbortSignal) {
  if (wanted !== 'latest') return resolvePoint(repo, wanted, signal)
  const last = (await listPoints(repo, CONFIG_METADATA_ID, signal)).at(-1)
  if (last === undefined) throw new UsageError(`repository '${repo.name}' holds no server configuration`)
  return last
}
