// Which job backs up each VM of each pool, and the VM's last backup: what an admin checks first ("is
// everything backed up?"). The matching is the engine's selectVms on the pools' live caches, with each
// job's selection as the engine reads it (jobs/job-selection.ts), so what this says is what runs do.
import type { CoverageJob, LastBackup, PoolCoverage } from '@strata/contract'
import { selectVms } from '@strata/core/engine'
import type { ObjectCache, XapiRecord } from '@strata/core/xapi'
import type { ApiJob } from '../jobs/job-model.js'
import { jobPools } from '../jobs/job-model.js'
import { engineSelection } from '../jobs/job-selection.js'
import type { RunRow } from '../runs/run-store.js'

export interface CoveragePool {
  readonly id: string
  readonly name: string
  /** Undefined while the pool is not connected. */
  readonly cache: ObjectCache | undefined
  readonly error?: string
}

export interface CoverageInput {
  readonly pools: readonly CoveragePool[]
  readonly jobs: readonly ApiJob[]
  readonly restoredTag: string
  /** Backup runs, newest first. */
  readonly runs: readonly RunRow[]
}

export function computeCoverage({ pools, jobs, restoredTag, runs }: CoverageInput): PoolCoverage[] {
  const byVm = jobsByVm(pools, jobs, restoredTag)
  const last = lastBackups(runs)
  return pools.map((pool) => {
    if (pool.cache === undefined)
      return {
        id: pool.id,
        name: pool.name,
        connected: false,
        error: pool.error ?? 'not connected',
        vms: [],
      }
    const vms = [...pool.cache.all('vm').values()].filter(isGuest).map((r) => {
      const uuid = String(r.uuid)
      const matched = byVm.get(`${pool.id}/${uuid}`) ?? []
      const backup = last.get(uuid)
      return {
        uuid,
        name: String(r.name_label ?? ''),
        ...(r.power_state === undefined ? {} : { powerState: String(r.power_state) }),
        tags: Array.isArray(r.tags) ? r.tags.map(String) : [],
        jobs: matched,
        covered: matched.some((j) => j.enabled),
        ...(backup === undefined ? {} : { lastBackup: backup }),
      }
    })
    vms.sort((a, b) => a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid))
    return { id: pool.id, name: pool.name, connected: true, vms }
  })
}

/** `<pool id>/<vm uuid>` → the jobs whose selection matches that VM now. */
function jobsByVm(
  pools: readonly CoveragePool[],
  jobs: readonly ApiJob[],
  restoredTag: string,
): Map<string, CoverageJob[]> {
  const out = new Map<string, CoverageJob[]>()
  const all = pools.map((p) => p.id)
  for (const job of jobs) {
    if (job.kind === 'metadata') continue // it backs up the pools' databases, none of their VMs
    const caches = jobPools(job, all).flatMap((id) => {
      const cache = pools.find((p) => p.id === id)?.cache
      return cache === undefined ? [] : [{ poolId: id, cache }]
    })
    for (const vm of selectVms(engineSelection(job.vms, restoredTag), caches).vms) {
      const key = `${vm.poolId}/${vm.uuid}`
      out.set(key, [...(out.get(key) ?? []), { id: job.id, name: job.name, enabled: job.enabled }])
    }
  }
  return out
}

/** The newest backup run of each VM (by uuid), from runs listed newest first. */
function lastBackups(runs: readonly RunRow[]): Map<string, LastBackup> {
  const out = new Map<string, LastBackup>()
  for (const run of runs) {
    if (run.kind !== 'backup') continue
    for (const vm of run.vms ?? []) {
      if (out.has(vm.uuid)) continue
      out.set(vm.uuid, {
        runId: run.runId,
        jobId: run.jobId,
        jobName: run.jobName,
        time: run.start,
        status: vm.status,
      })
    }
  }
  return out
}

/** A guest VM: not a template, a snapshot or a control domain. */
export function isGuest(r: XapiRecord): boolean {
  return r.is_a_template !== true && r.is_a_snapshot !== true && r.is_control_domain !== true
}
