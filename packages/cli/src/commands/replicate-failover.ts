// `strata replicate failover`: starts the newest replica of a VM (or a chosen replica or restore point):
// the replica itself, unblocked (resumed when it holds memory), or with --clone a fast clone of it, which
// keeps the replica chain intact for the next runs. Failback is a replication job the other way.
import { failover, runRootTask, type FailoverResult } from '@strata/core/engine'
import { UsageError, type Command } from '../command.js'
import { POOL_USAGE, poolOptions, str } from './backup-common.js'
import { formatTree, progressRenderer } from './backup-progress.js'
import { withPool } from './pool-common.js'

interface FailoverOutput extends FailoverResult {
  tree?: unknown
}

export const replicateFailover: Command<FailoverOutput> = {
  path: ['replicate', 'failover'],
  usage: `replicate failover ${POOL_USAGE} --replica VM [--clone]`,
  summary:
    'Start a replica (the newest of a source VM, or the replica or restore point named): the replica itself, or a fast clone with --clone',
  positionals: 0,
  options: { ...poolOptions, replica: { type: 'string' }, clone: { type: 'boolean' } },
  async run(args, { signal, stderr, json }) {
    const replica = str(args.values.replica)
    if (replica === undefined)
      throw new UsageError('--replica NAME_OR_UUID is required (a replica, or its source VM for its newest)')
    const progress = progressRenderer(stderr, json)
    try {
      const result = await withPool(args, signal, (xapi) =>
        runRootTask({ emit: progress.onEvent, signal }, 'failover', (task) =>
          failover(task, xapi, { replica, clone: args.values.clone === true }),
        ),
      )
      const tree = progress.view.roots[0]
      return { ...result, ...(tree === undefined ? {} : { tree }) }
    } finally {
      progress.stop()
    }
  },
  format: (r) =>
    [
      ...(r.tree === undefined ? [] : [formatTree(r.tree as Parameters<typeof formatTree>[0]), '']),
      `${r.resumed ? 'resumed' : 'started'} '${r.vmName}' (${r.vmUuid})${r.cloned ? `, a clone of ${r.from}` : ''}`,
    ].join('\n'),
}
