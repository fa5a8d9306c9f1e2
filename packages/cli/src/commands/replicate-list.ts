// `strata replicate list`: the replicas on a pool (Strata's and XO's, recognised by their keys), each
// with its source VM, when the source was snapshotted, what it is (a replica VM or a restore point) and
// its state: ready, being written (or left by a failed attempt), failed over.
import { listReplicas, type ReplicaInfo } from '@strata/core/engine'
import type { Command } from '../command.js'
import { POOL_USAGE, poolOptions } from './backup-common.js'
import { formatTable, withPool } from './pool-common.js'

export const replicateList: Command<{ replicas: ReplicaInfo[] }> = {
  path: ['replicate', 'list'],
  usage: `replicate list ${POOL_USAGE}`,
  summary: 'List the replicas and their restore points on a pool, with their source, time and state',
  positionals: 0,
  options: { ...poolOptions },
  async run(args, { signal }) {
    return { replicas: await withPool(args, signal, (xapi) => listReplicas(xapi, signal)) }
  },
  format: ({ replicas }) =>
    replicas.length === 0
      ? 'no replica on this pool'
      : formatTable(
          ['SOURCE', 'TIME', 'KIND', 'MODE', 'STATE', 'UUID', 'NAME'],
          replicas.map((r) => [
            r.sourceVmName ?? r.sourceVmUuid,
            r.time.slice(0, 19).replace('T', ' '),
            r.kind === 'point' ? 'restore point' : 'replica',
            `${r.mode ?? '?'}${r.memory ? '+memory' : ''}`,
            stateOf(r),
            r.uuid,
            r.name,
          ]),
        ),
}

function stateOf(r: ReplicaInfo): string {
  if (r.failedOver !== undefined) return `failed over ${r.failedOver.slice(0, 16)} (${r.powerState})`
  if (r.pending) return 'incomplete'
  return r.kind === 'point' ? 'ready' : `ready (${r.powerState})`
}
