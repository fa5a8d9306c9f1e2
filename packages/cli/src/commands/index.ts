// Every CLI command, in the order `strata help` lists them.
import type { Command } from '../command.js'
import { version } from './version.js'
import { nbdCopy } from './nbd-copy.js'
import { nbdServe } from './nbd-serve.js'
import { vhdInfo } from './vhd-info.js'
import { vhdToRawCommand } from './vhd-to-raw.js'
import { vhdFromRaw } from './vhd-from-raw.js'

export const commands: readonly Command<never>[] = [
  version,
  vhdInfo,
  vhdToRawCommand,
  vhdFromRaw,
  nbdCopy,
  nbdServe,
] as Command<never>[]
