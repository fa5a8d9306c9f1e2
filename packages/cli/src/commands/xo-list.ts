// `strata xo list`: the VMs and restore points of an XO remote, each point usable or not (with the
// reason), and what XO left there (locks, interrupted merges and uploads). --json: the restore points.
import { listRemote, type XoListing, type XoPointSummary } from '@strata/core/xo'
import type { Command } from '../command.js'
import { formatBytes } from './repo-common.js'
import { openXoRemote, remoteOption } from './xo-common.js'

type XoListResult = XoPointSummary[] & { listing?: XoListing }

export const xoList: Command<XoListResult> = {
  path: ['xo', 'list'],
  usage: 'xo list --remote PATH|s3://…',
  summary:
    'List the VMs and restore points of a Xen Orchestra backup remote (read only; key in STRATA_XO_KEY)',
  positionals: 0,
  options: { ...remoteOption },
  async run(args, { signal }) {
    const remote = await openXoRemote(args, signal)
    try {
      const listing = await listRemote(remote, signal)
      const vmNotes = new Map(listing.vms.map((vm) => [vm.uuid, vm.notes]))
      const points: XoListResult = listing.points.map((p) => ({
        ...p,
        notes: [...listing.notes, ...(vmNotes.get(p.vm) ?? []), ...p.notes],
      }))
      // Kept off the JSON (an array of points), for the human rendering.
      Object.defineProperty(points, 'listing', { value: listing, enumerable: false })
      return points
    } finally {
      await remote.close()
    }
  },
  format: (points) => formatListing(points.listing!),
}

function formatListing(listing: XoListing): string {
  const lines = [
    `XO remote ${listing.remote}${listing.encryption === 'none' ? '' : ` (encrypted, ${listing.encryption})`}`,
  ]
  for (const note of listing.notes) lines.push(`  note: ${note}`)
  for (const vm of listing.vms) {
    const points = listing.points.filter((p) => p.vm === vm.uuid)
    lines.push(
      '',
      `VM ${vm.name || '(unnamed)'} ${vm.uuid}: ${points.length} restore point(s)${vm.locked ? ', locked by XO' : ''}`,
    )
    for (const note of vm.notes) lines.push(`  note: ${note}`)
    for (const p of points) lines.push(...formatPoint(p))
  }
  if (listing.vms.length === 0) lines.push('no VM backups')
  return lines.join('\n')
}

function formatPoint(p: XoPointSummary): string[] {
  const date =
    p.timestamp === 0 ? '(no date)' : new Date(p.timestamp).toISOString().replace('T', ' ').slice(0, 19)
  const size = p.size === undefined ? '' : `  ${formatBytes(p.size)}`
  const head = `  ${p.id}  ${date}  ${p.mode}${size}  job ${p.jobId || '?'}`
  if (!p.usable) return [`${head}  UNUSABLE: ${p.reason}`]
  const disks = p.disks.map(
    (d) =>
      `      disk ${d.index}: ${d.name || d.vdi} ${formatBytes(d.size)}${d.chainLength > 1 ? `, ${d.chainLength} VHDs in its chain` : ''}`,
  )
  return [head, ...disks, ...p.notes.map((n) => `      note: ${n}`)]
}
