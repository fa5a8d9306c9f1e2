// A job's VM selection as the engine reads it: the one translation from the API's `vms` to the engine's
// selection, for the preview, the coverage of the pools, and anything else that asks which VMs a job
// backs up. The matching itself is the engine's selectVms.
import type { VmSelection } from '@strata/contract'
import type { VmSelection as EngineSelection } from '@strata/core/engine'

export function engineSelection(vms: VmSelection, restoredTag: string): EngineSelection {
  return 'uuids' in vms
    ? { kind: 'explicit', vms: vms.uuids }
    : {
        kind: 'smart',
        pools: vms.smart.pools ?? [],
        tags: vms.smart.tags ?? [],
        powerState: vms.smart.powerState,
        excludeVms: vms.smart.excludeVms ?? [],
        excludeTags: vms.smart.excludeTags ?? [],
        includeRestored: vms.smart.includeRestored ?? false,
        restoredTag,
      }
}
