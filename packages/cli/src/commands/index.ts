// Every CLI command, in the order `strata help` lists them.
import type { Command } from '../command.js'
import { version } from './version.js'

export const commands: readonly Command<never>[] = [version] as Command<never>[]
