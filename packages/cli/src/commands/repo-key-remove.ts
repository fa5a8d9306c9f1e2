import type { Command } from '../command.js'
import { openRepository, repoOption } from './repo-common.js'

export const repoKeyRemove: Command<{ removed: string }> = {
  path: ['repo', 'key', 'remove'],
  usage: 'repo key remove SLOT --repo PATH|URL',
  summary: 'Remove a key slot (never the last one); with key add, this changes a passphrase',
  positionals: 1,
  options: repoOption,
  async run(args, { signal }) {
    const slot = args.positionals[0]!
    await (await openRepository(args, signal)).removeKeySlot(slot, signal)
    return { removed: slot }
  },
  format: (r) => `removed key slot ${r.removed}`,
}
