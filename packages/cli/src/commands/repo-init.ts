import {
  DEFAULT_CHUNK_SIZE,
  MAX_IMMUTABLE_SECONDS,
  Repository,
  type ImmutablePolicy,
} from '@strata/core/repository'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import {
  forceOption,
  openRepoStore,
  parseCount,
  parseSize,
  readPassphrase,
  repoOption,
  withForceHint,
} from './repo-common.js'

interface InitResult {
  repository: string
  id: string
  chunkSize: number
  encryption: string
  compressionLevel: number
  immutable?: ImmutablePolicy
}

/** `--immutable 30d [--lock-mode governance|compliance]`: days only, as Object Lock's own periods. */
export function parseImmutable(period: unknown, mode: unknown): ImmutablePolicy | undefined {
  if (period === undefined) {
    if (mode !== undefined) throw new UsageError('--lock-mode needs --immutable')
    return undefined
  }
  const days = /^([1-9][0-9]{0,5})d$/.exec(String(period))
  const seconds = days ? Number(days[1]) * 86_400 : NaN
  if (!(seconds <= MAX_IMMUTABLE_SECONDS))
    throw new UsageError(`--immutable '${String(period)}': a number of days such as 30d, at most 36500d`)
  if (mode !== undefined && mode !== 'governance' && mode !== 'compliance')
    throw new UsageError(`--lock-mode '${String(mode)}': governance or compliance`)
  return { seconds, mode: mode ?? 'governance' }
}

export const repoInit: Command<InitResult> = {
  path: ['repo', 'init'],
  usage:
    'repo init --repo PATH|URL [--encrypt [--force]] [--chunk-size 2M] [--compression LEVEL] ' +
    '[--immutable 30d [--lock-mode governance|compliance]]',
  summary:
    'Create a repository (encrypted with --encrypt; passphrase from STRATA_PASSPHRASE or a prompt, at ' +
    'least 10 characters unless --force)',
  positionals: 0,
  options: {
    ...repoOption,
    ...forceOption,
    encrypt: { type: 'boolean' },
    'chunk-size': { type: 'string' },
    compression: { type: 'string' },
    immutable: { type: 'string' },
    'lock-mode': { type: 'string' },
  },
  async run(args, { signal }) {
    const { values } = args
    const chunkSize =
      values['chunk-size'] === undefined
        ? DEFAULT_CHUNK_SIZE
        : parseSize(String(values['chunk-size']), '--chunk-size')
    const level = parseCount(values.compression, '--compression') ?? 3
    if (level > 22) throw new UsageError('--compression: zstd levels go from 0 (none) to 22')
    const immutable = parseImmutable(values.immutable, values['lock-mode'])
    const store = await openRepoStore(args, signal)
    const passphrase = values.encrypt === true ? await readPassphrase('new passphrase: ') : undefined
    const force = values.force === true
    const repo = await withForceHint(() =>
      Repository.create(store, { chunkSize, compressionLevel: level, passphrase, force, immutable, signal }),
    )
    const { id, encryption, compressionLevel } = repo.config
    return {
      repository: store.name,
      id,
      chunkSize,
      encryption,
      compressionLevel,
      immutable: repo.config.immutable,
    }
  },
  format: (r) =>
    `created repository ${r.id} in ${r.repository}: chunks of ${r.chunkSize} bytes, zstd level ${r.compressionLevel}, encryption ${r.encryption}` +
    (r.immutable ? `, immutable ${r.immutable.seconds / 86_400}d (${r.immutable.mode})` : ''),
}
