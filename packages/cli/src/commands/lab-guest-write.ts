// `strata lab guest-write`: guest activity in a lab VM (the lab-only `lab.guest_*` calls), so that a
// demo or a script can change a disk between two backups. Real pools refuse these calls.
import { UsageError, type Command } from '../command.js'
import { connectXapi, poolOptions, str } from './backup-common.js'
import { parseCount } from './repo-common.js'

interface GuestWriteResult {
  vm: string
  disk: number
  file?: string
  blocks?: number
}

export const labGuestWrite: Command<GuestWriteResult> = {
  path: ['lab', 'guest-write'],
  usage:
    'lab guest-write --pool URL --fingerprint SHA256 --password P --vm NAME [--disk N] (--file PATH --content TEXT | --random-blocks N)',
  summary: 'Write a file or random 64 KiB blocks into a lab VM disk, as its guest would (lab pools only)',
  positionals: 0,
  options: {
    ...poolOptions,
    vm: { type: 'string' },
    disk: { type: 'string' },
    file: { type: 'string' },
    content: { type: 'string' },
    'random-blocks': { type: 'string' },
  },
  async run(args, { signal, stderr }) {
    const name = str(args.values.vm)
    if (name === undefined) throw new UsageError('--vm NAME is required')
    const file = str(args.values.file)
    const blocks = parseCount(args.values['random-blocks'], '--random-blocks')
    if ((file === undefined) === (blocks === undefined))
      throw new UsageError('give --file PATH --content TEXT or --random-blocks N')
    const disk = parseCount(args.values.disk, '--disk') ?? 0
    const xapi = await connectXapi(args, signal, stderr)
    try {
      const [vm] = await xapi.call<string[]>('VM.get_by_name_label', [name], signal)
      if (vm === undefined) throw new UsageError(`no VM named '${name}' on the lab pool`)
      if (file !== undefined) {
        const content = str(args.values.content) ?? ''
        await xapi.call('lab.guest_write_file', [vm, disk, file, content], signal)
        return { vm: name, disk, file }
      }
      await xapi.call('lab.guest_write_random_blocks', [vm, disk, blocks], signal)
      return { vm: name, disk, blocks }
    } finally {
      await xapi.close()
    }
  },
  format: (r) =>
    r.file !== undefined
      ? `wrote ${r.file} in disk ${r.disk} of ${r.vm}`
      : `wrote ${r.blocks} random 64 KiB blocks in disk ${r.disk} of ${r.vm}`,
}
