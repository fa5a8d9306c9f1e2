// Two (or more) independent lab pools in one process, e.g. a replication source and its target: each
// has its own data directory, ports, NBD server, certificates, uuids and SR, and a name of its own
// ('Strata lab pool A', 'B'… unless the options give one). Dispose of them with `await using`.
import { LabPool, type LabOptions } from '../lab-pool.js'

export interface LabPools extends AsyncDisposable {
  readonly pools: LabPool[]
  close(): Promise<void>
}

export async function startLabPools(...options: LabOptions[]): Promise<LabPools> {
  const pools: LabPool[] = []
  const close = async (): Promise<void> => {
    await Promise.allSettled(pools.map((p) => p.close()))
  }
  try {
    for (const [i, o] of options.entries())
      pools.push(await LabPool.start({ name: `Strata lab pool ${String.fromCharCode(65 + i)}`, ...o }))
  } catch (error) {
    await close()
    throw error
  }
  return { pools, close, [Symbol.asyncDispose]: close }
}
