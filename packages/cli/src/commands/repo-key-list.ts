import type { KeySlotInfo } from '@strata/core/repository'
import type { Command } from '../command.js'
import { openRepository, repoOption } from './repo-common.js'

type Slots = KeySlotInfo[]

export const repoKeyList: Command<Slots> = {
  path: ['repo', 'key', 'list'],
  usage: 'repo key list --repo PATH|URL',
  summary: 'List the key slots of an encrypted repository',
  positionals: 0,
  options: repoOption,
  async run(args, { signal }) {
    return (await openRepository(args, signal)).listKeySlots(signal)
  },
  // A slot the config seal does not list was not added by Strata (or was removed): never tried.
  format: (slots) =>
    slots
      .map(
        (s) => `${s.id}  ${s.created}  ${s.label}${s.trusted ? '' : '  (not in the config seal: ignored)'}`,
      )
      .join('\n'),
}
