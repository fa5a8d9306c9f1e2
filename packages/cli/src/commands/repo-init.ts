import { DEFAULT_CHUNK_SIZE, Repository } from '@strata/core/repository'
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
}

export const repoInit: Command<InitResult> = {
  path: ['repo', 'init'],
  usage: 'repo init --repo PATH|URL [--encrypt [--force]] [--chunk-size 2M] [--compression LEVEL]',
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
  },
  async run(args, { signal }) {
    const { values } = args
    const chunkSize =
      values['chunk-size'] === undefined
        ? DEFAULT_CHUNK_SIZE
        : parseSize(String(values['chunk-size']), '--chunk-size')
    const level = parseCount(values.compression, '--compression') ?? 3
    if (level > 22) throw new UsageError('--compression: zstd levels go from 0 (none) to 22')
    const store = await openRepoStore(args, signal)
    const passphrase = values.encrypt === true ? await readPassphrase('new passphrase: ') : undefined
    const force = values.force === true
    const repo = await withForceHint(() =>
      Repository.create(store, { chunkSize, compressionLevel: level, passphrase, force, signal }),
    )
    const { id, encryption, compressionLevel } = repo.config
    return { repository: store.name, id, chunkSize, encryption, compressionLevel }
  },
  format: (r) =>
    `created repository ${r.id} in ${r.repository}: chunks of ${r.chunkSize} bytes, zstd level ${r.compressionLevel}, encryption ${r.encryption}`,
}
