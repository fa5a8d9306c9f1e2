import type { Command } from '../command.js'
import { openRepository, repoOption } from './repo-common.js'

type Slots = { id: string; label: string; created: string }[]

export const repoKeyList: Command<Slots> = {
  path: ['repo', 'key', 'list'],
  usage: 'repo key list --repo PATH|URL',
  summary: 'List the key slots of an encrypted repository',
  positionals: 0,
  options: repoOption,
  async run(args, { signal }) {
    return (await openRepository(args, signal)).listKeySlots(signal)
  },
  format: (slots) => slots.map((s) => `${s.id}  ${s.created}  ${s.label}`).join('\n'),
}
