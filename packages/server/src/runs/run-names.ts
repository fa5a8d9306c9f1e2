// Runs show names, not the server's ids: a job's run tree holds the ids of pools and repositories (the
// engine's job is built from them), so the tree the API returns carries their names as they were when
// the run started, the ids kept beside (`poolId`, `repositoryId`). The VM names are the engine's own.
import type { RunResult, TaskNode } from '@strata/core/engine'
import type { RunDetails, RunPointLink, RunVm } from './run-store.js'

type Names = NonNullable<RunDetails['names']>

export function nameTree(node: TaskNode, names: Names | undefined): TaskNode {
  if (names === undefined) return node
  const d = node.data
  const data: Record<string, unknown> = { ...d }
  const pool = typeof d.pool === 'string' ? names.pools[d.pool] : undefined
  if (pool !== undefined) Object.assign(data, { pool, poolId: d.pool })
  for (const key of ['repository', 'target'] as const) {
    const name = typeof d[key] === 'string' ? names.repositories[d[key]] : undefined
    if (name !== undefined) Object.assign(data, { [key]: name, repositoryId: d[key] })
  }
  if (Array.isArray(d.pools)) data.pools = d.pools.map((id) => names.pools[String(id)] ?? id)
  for (const key of ['repositories', 'mirrorTo'] as const) {
    const ids = d[key]
    if (Array.isArray(ids)) data[key] = ids.map((id) => names.repositories[String(id)] ?? id)
  }
  if (Array.isArray(d.points))
    data.points = (d.points as { target: string }[]).map((p) => ({
      ...p,
      target: names.repositories[p.target] ?? p.target,
      repositoryId: p.target,
    }))
  return { ...node, data, children: node.children.map((c) => nameTree(c, names)) }
}

/** The VMs of a finished backup run and the points it wrote, by name. */
export function runOutcome(result: RunResult, names: Names | undefined): Pick<RunDetails, 'vms' | 'points'> {
  const vms: RunVm[] = result.vms.map((v) => ({ uuid: v.uuid, name: v.name, status: v.status }))
  const points: RunPointLink[] = result.vms.flatMap((v) =>
    (v.result?.points ?? []).map((p) => ({
      repositoryId: p.target,
      repository: names?.repositories[p.target] ?? p.target,
      vmUuid: v.uuid,
      vm: v.name,
      pointId: p.pointId,
    })),
  )
  return { vms, points }
}
