// What a report says about one run, read from its record and its task tree: the job, how it ended and
// why, each VM with its state, duration, sizes and error, and the link to the run in the UI. The e-mail
// and the webhook body are both made from this (pure: no I/O).
import type { TaskNode } from '@strata/core/engine'
import type { RunRow } from '../runs/run-store.js'

export interface ReportError {
  readonly code: string
  readonly message: string
}

export interface ReportVm {
  readonly uuid: string
  readonly name: string
  readonly status: string
  readonly durationMs?: number
  readonly bytesRead?: number
  /** New bytes the VM's points added to their repositories. */
  readonly bytesStored?: number
  /** Its disks, added up. */
  readonly size?: number
  readonly full?: boolean
  readonly error?: ReportError
  readonly warnings: number
}

export interface RunReportSummary {
  readonly runId: string
  readonly jobId: string
  readonly jobName: string
  readonly kind: string
  readonly status: string
  readonly start: number
  readonly end?: number
  readonly durationMs?: number
  /** The run in the UI; absent while the public address of the UI is not set. */
  readonly url?: string
  readonly error?: ReportError
  readonly pools: readonly string[]
  readonly repositories: readonly string[]
  readonly vms: readonly ReportVm[]
  readonly totals: { readonly bytesRead: number; readonly bytesStored: number; readonly size: number }
  readonly warnings: number
}

export const runUrl = (publicUrl: string | undefined, runId: string): string | undefined =>
  publicUrl === undefined ? undefined : `${publicUrl}/logs/${encodeURIComponent(runId)}`

export function summarizeRun(row: RunRow, tree: TaskNode | undefined, publicUrl?: string): RunReportSummary {
  const vms = tree === undefined ? fromRow(row) : vmNodes(tree).map(reportVm)
  const sum = (pick: (vm: ReportVm) => number | undefined) => vms.reduce((n, vm) => n + (pick(vm) ?? 0), 0)
  const url = runUrl(publicUrl, row.runId)
  const error = row.error ?? tree?.error
  return {
    runId: row.runId,
    jobId: row.jobId,
    jobName: row.jobName,
    kind: row.kind,
    status: row.status,
    start: row.start,
    ...(row.end === undefined ? {} : { end: row.end, durationMs: row.end - row.start }),
    ...(url === undefined ? {} : { url }),
    ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }),
    pools: row.pools ?? [],
    repositories: row.repositories ?? [],
    vms,
    totals: {
      bytesRead: sum((vm) => vm.bytesRead),
      bytesStored: sum((vm) => vm.bytesStored),
      size: sum((vm) => vm.size),
    },
    warnings: row.warnings,
  }
}

/** The VM tasks of a tree (a run's children, or deeper for run kinds that group them). */
function vmNodes(node: TaskNode): TaskNode[] {
  return node.children.flatMap((child) => (child.name === 'VM' ? [child] : vmNodes(child)))
}

function reportVm(node: TaskNode): ReportVm {
  const d = node.data
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
  const sizes = descendants(node)
    .filter((n) => n.name === 'transfer')
    .map((n) => num(n.data.size) ?? 0)
  const error = node.error ?? descendants(node).find((n) => n.error !== undefined)?.error
  const warnings = descendants(node).reduce((n, t) => n + t.warnings.length, node.warnings.length)
  const durationMs = node.durationMs ?? (node.end === undefined ? undefined : node.end - node.start)
  return {
    uuid: String(d.uuid ?? ''),
    name: String(d.name ?? d.uuid ?? 'VM'),
    status: node.status,
    ...(durationMs === undefined ? {} : { durationMs }),
    ...optional('bytesRead', num(d.bytesRead)),
    ...optional('bytesStored', num(d.bytesStored)),
    ...(sizes.length === 0 ? {} : { size: sizes.reduce((a, b) => a + b, 0) }),
    ...(typeof d.full === 'boolean' ? { full: d.full } : {}),
    ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }),
    warnings,
  }
}

function descendants(node: TaskNode): TaskNode[] {
  return node.children.flatMap((c) => [c, ...descendants(c)])
}

const optional = <K extends string>(key: K, value: number | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, number>>

/** A run whose log cannot be read (the worker failed before it wrote one): what its record holds. */
function fromRow(row: RunRow): ReportVm[] {
  return (row.vms ?? []).map((vm) => ({ uuid: vm.uuid, name: vm.name, status: vm.status, warnings: 0 }))
}

/** 'failure' and 'interrupted' are failures to report; 'skipped' (nothing matched) is not. */
export const isFailure = (status: string): boolean => status === 'failure' || status === 'interrupted'
