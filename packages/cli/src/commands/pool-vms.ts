// `strata pool vms`: the guest VMs of a pool (no templates, snapshots or control domains), to name in jobs.
import { listVms, type VmInfo } from '@strata/core/engine'
import type { Command } from '../command.js'
import { POOL_CONNECT_USAGE, poolConnectOptions } from './backup-common.js'
import { formatTable, withPool } from './pool-common.js'

export const poolVms: Command<VmInfo[]> = {
  path: ['pool', 'vms'],
  usage: `pool vms ${POOL_CONNECT_USAGE}`,
  summary: "List a pool's VMs: name, uuid, power state, tags (password: STRATA_XAPI_PASSWORD or a prompt)",
  positionals: 0,
  options: { ...poolConnectOptions },
  run: (args, { signal }) => withPool(args, signal, (xapi) => listVms(xapi, signal)),
  format: (vms) =>
    formatTable(
      ['NAME', 'UUID', 'POWER', 'TAGS'],
      vms.map((v) => [v.name, v.uuid, v.powerState, v.tags.join(', ')]),
    ),
}
