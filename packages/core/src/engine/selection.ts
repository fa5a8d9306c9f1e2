// Which VMs a run backs up: an explicit list (uuids or names) or smart rules (pools, tags, power state,
// exclusions) evaluated against each pool's object cache at run time, so new VMs tagged for backup are
// picked up without editing the job. Templates, snapshots and control domains are never candidates, nor
// (unless the job asks for them) VMs made by a restore: a copy of a VM is not a second VM to back up.
import type { ObjectCache, XapiRecord } from '../xapi/index.js'
import { NO_BACKUP_TAG, type VmSelection } from './job.js'

/** The tag a restore gives the VM it creates (vm-restore.ts); removing it makes the VM a normal one. */
export const RESTORED_TAG = 'restored from backup'

export interface PoolVms {
  readonly poolId: string
  readonly cache: Pick<ObjectCache, 'all'>
}

export interface SelectedVm {
  readonly poolId: string
  readonly uuid: string
  readonly name: string
}

export interface Selection {
  readonly vms: SelectedVm[]
  /** Explicitly named VMs that could not be resolved (each becomes a failed VM task). */
  readonly problems: { readonly vm: string; readonly reason: string }[]
}

export function selectVms(selection: VmSelection, pools: readonly PoolVms[]): Selection {
  const candidates = pools.flatMap((p) => guestVms(p))
  if (selection.kind === 'explicit') return selectExplicit(selection.vms, candidates)
  const inPools = (c: Candidate): boolean =>
    selection.pools.length === 0 || selection.pools.includes(c.poolId)
  const excludedVm = (c: Candidate): boolean =>
    selection.excludeVms.includes(c.uuid) || selection.excludeVms.includes(c.name)
  const vms = candidates.filter(
    (c) =>
      inPools(c) &&
      (selection.tags.length === 0 || c.tags.some((t) => selection.tags.includes(t))) &&
      (selection.powerState === undefined || c.powerState === selection.powerState) &&
      !excludedVm(c) &&
      !c.tags.some((t) => selection.excludeTags.includes(t) || isNoBackupTag(t)) &&
      (selection.includeRestored === true || !c.tags.includes(selection.restoredTag ?? RESTORED_TAG)),
  )
  return { vms: vms.map(({ poolId, uuid, name }) => ({ poolId, uuid, name })), problems: [] }
}

/** 'strata:no-bak' or 'strata:no-bak=<reason>'. */
export function isNoBackupTag(tag: string): boolean {
  return tag.split('=')[0] === NO_BACKUP_TAG
}

interface Candidate extends SelectedVm {
  readonly tags: readonly string[]
  readonly powerState: string
}

function guestVms({ poolId, cache }: PoolVms): Candidate[] {
  const out: Candidate[] = []
  for (const record of cache.all('vm').values()) {
    if (!isGuest(record)) continue
    out.push({
      poolId,
      uuid: String(record.uuid),
      name: String(record.name_label ?? ''),
      tags: Array.isArray(record.tags) ? record.tags.map(String) : [],
      powerState: String(record.power_state),
    })
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid))
}

function isGuest(r: XapiRecord): boolean {
  return r.is_a_template !== true && r.is_a_snapshot !== true && r.is_control_domain !== true
}

function selectExplicit(wanted: readonly string[], candidates: Candidate[]): Selection {
  const vms: SelectedVm[] = []
  const problems: Selection['problems'] = []
  for (const vm of wanted) {
    const byUuid = candidates.filter((c) => c.uuid === vm)
    const found = byUuid.length > 0 ? byUuid : candidates.filter((c) => c.name === vm)
    if (found.length === 1) {
      const { poolId, uuid, name } = found[0]!
      if (!vms.some((v) => v.uuid === uuid)) vms.push({ poolId, uuid, name })
    } else {
      problems.push({
        vm,
        reason:
          found.length === 0 ? `no VM '${vm}' on the job's pools` : `${found.length} VMs are named '${vm}'`,
      })
    }
  }
  return { vms, problems }
}
