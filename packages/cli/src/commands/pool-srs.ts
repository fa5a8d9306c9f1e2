// `strata pool srs`: the SRs of a pool, to choose where a restore goes (`restore vm --sr NAME_OR_UUID`).
import { listSrs, type SrInfo } from '@strata/core/engine'
import type { Command } from '../command.js'
import { POOL_CONNECT_USAGE, poolConnectOptions } from './backup-common.js'
import { formatTable, withPool } from './pool-common.js'
import { formatBytes } from './repo-common.js'

export const poolSrs: Command<SrInfo[]> = {
  path: ['pool', 'srs'],
  usage: `pool srs ${POOL_CONNECT_USAGE}`,
  summary:
    "List a pool's SRs: name, uuid, type, size and use, the default one (password: STRATA_XAPI_PASSWORD or a prompt)",
  positionals: 0,
  options: { ...poolConnectOptions },
  run: (args, { signal }) => withPool(args, signal, (xapi) => listSrs(xapi, signal)),
  format: (srs) =>
    formatTable(
      ['NAME', 'UUID', 'TYPE', 'SIZE', 'USED', ''],
      srs.map((s) => [
        s.name,
        s.uuid,
        s.contentType === 'iso' ? `${s.type} (ISO)` : s.type,
        formatBytes(s.size),
        formatBytes(s.used),
        s.isDefault ? 'default' : '',
      ]),
    ),
}
