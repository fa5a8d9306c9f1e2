// VMs chosen by hand, as a job stores them: an entry is a VM's uuid, or its name (job files and the CLI
// name VMs either way). The editor shows every entry: those naming a VM of the connected pools as that
// VM's ticked box, and the others (a pool down, a VM gone or renamed) apart, so none is silently dropped.

export interface NamedVm {
  readonly uuid: string
  readonly name_label: string
}

const names = (entry: string, vm: NamedVm) => entry === vm.uuid || entry === vm.name_label

export function isPicked(entries: readonly string[], vm: NamedVm): boolean {
  return entries.some((entry) => names(entry, vm))
}

/** Entries that name no VM of `vms`, in the job's order. */
export function missingEntries(entries: readonly string[], vms: readonly NamedVm[]): string[] {
  return entries.filter((entry) => !vms.some((vm) => names(entry, vm)))
}

/** Ticked: added by uuid unless an entry names it already. Unticked: every entry naming it goes. */
export function togglePicked(entries: readonly string[], vm: NamedVm, on: boolean): string[] {
  if (on) return isPicked(entries, vm) ? [...entries] : [...entries, vm.uuid]
  return entries.filter((entry) => !names(entry, vm))
}
