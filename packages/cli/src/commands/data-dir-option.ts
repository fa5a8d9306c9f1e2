// `--data-dir DIR`: the one name of a command's data directory. `strata server` and `strata lab serve`
// called it `--data` until this release; the old name is accepted with a warning until the next one.
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'

export const dataDirOptions: OptionSpec = {
  'data-dir': { type: 'string' },
  /** Deprecated: `--data-dir`. */
  data: { type: 'string' },
}

/** The directory given with --data-dir (or the old --data, which `warn` is told about). */
export function dataDirArg(args: ParsedArgs, warn: (line: string) => void): string | undefined {
  const value = (name: string) => {
    const v = args.values[name]
    return typeof v === 'string' && v !== '' ? v : undefined
  }
  const dir = value('data-dir')
  const old = value('data')
  if (old === undefined) return dir
  if (dir !== undefined) throw new UsageError('give --data-dir only (--data is its old name)')
  warn('--data is deprecated: use --data-dir (the old name is accepted until the next release)')
  return old
}
