import type { Command } from '../command.js'
import {
  forceOption,
  openRepository,
  readKeyFile,
  readSecret,
  repoOption,
  withForceHint,
} from './repo-common.js'

export const repoKeyAdd: Command<{ slot: string; label: string }> = {
  path: ['repo', 'key', 'add'],
  usage: 'repo key add --repo PATH|URL [--key-file FILE] [--label TEXT] [--force]',
  summary:
    'Add a key slot (a new passphrase from STRATA_NEW_PASSPHRASE or a prompt, at least 10 characters ' +
    'unless --force, or a key file); no data is rewritten',
  positionals: 0,
  options: { ...repoOption, ...forceOption, 'key-file': { type: 'string' }, label: { type: 'string' } },
  async run(args, { signal }) {
    const repo = await openRepository(args, signal)
    const keyFile = args.values['key-file']
    const secret =
      typeof keyFile === 'string'
        ? await readKeyFile(keyFile)
        : await readSecret(
            'new passphrase: ',
            process.env.STRATA_NEW_PASSPHRASE,
            'set STRATA_NEW_PASSPHRASE to the new passphrase, or give --key-file FILE',
          )
    const label =
      typeof args.values.label === 'string'
        ? args.values.label
        : typeof keyFile === 'string'
          ? 'key file'
          : 'passphrase'
    const force = args.values.force === true
    return { slot: await withForceHint(() => repo.addKeySlot(secret, label, { force, signal })), label }
  },
  format: (r) => `added key slot ${r.slot} (${r.label})`,
}
