// `strata pool networks`: the networks of a pool, for a restore's network map (`--network FROM=TO`).
import { listNetworks, type NetworkInfo } from '@strata/core/engine'
import type { Command } from '../command.js'
import { POOL_CONNECT_USAGE, poolConnectOptions } from './backup-common.js'
import { formatTable, withPool } from './pool-common.js'

export const poolNetworks: Command<NetworkInfo[]> = {
  path: ['pool', 'networks'],
  usage: `pool networks ${POOL_CONNECT_USAGE}`,
  summary: "List a pool's networks: name, uuid, bridge (password: STRATA_XAPI_PASSWORD or a prompt)",
  positionals: 0,
  options: { ...poolConnectOptions },
  run: (args, { signal }) => withPool(args, signal, (xapi) => listNetworks(xapi, signal)),
  format: (networks) =>
    formatTable(
      ['NAME', 'UUID', 'BRIDGE'],
      networks.map((n) => [n.name, n.uuid, n.bridge]),
    ),
}
