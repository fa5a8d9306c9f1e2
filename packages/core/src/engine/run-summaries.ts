// The summaries of ended runs, one JSON line each in `<dir>/summaries.ndjson`, so that listing runs reads
// one file instead of replaying every log (10,000 runs in well under a second). The writer of a log
// appends its run's line when the root task ends; a log without one (written by an older version, or a
// run whose process died) gets one the first time it is listed ended. Lines are appended, never
// rewritten: each is one O_APPEND write, which local filesystems never interleave with another's. Each
// names the size of the log it was made from: when a log grows after its run ended (appendRunEvent, from
// the parent of a worker that died, appends a new line then), the line of the longest log wins.
import { appendFileSync } from 'node:fs'
import { appendFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TaskStatus } from '../shared/index.js'

/** What a listing shows of a run (run-log.ts makes it from the run's tree). */
export interface RunSummary {
  readonly runId: string
  readonly jobId: string
  readonly jobName: string
  readonly scheduleId?: string
  readonly status: TaskStatus
  readonly start: number
  readonly end?: number
  readonly vms: Record<TaskStatus, number>
  readonly warnings: number
  /** Names, as the run's tree has them (pools, repositories, VMs). */
  readonly pools: readonly string[]
  readonly repositories: readonly string[]
  readonly vmNames: readonly string[]
  /** The restore points the run wrote, per VM and repository. */
  readonly points: readonly RunPoint[]
}

export interface RunPoint {
  readonly vm: string
  readonly vmUuid: string
  readonly target: string
  readonly pointId: string
}

export const SUMMARIES_FILE = 'summaries.ndjson'

interface SummaryLine {
  readonly logBytes: number
  readonly summary: RunSummary
}

/** From the writer of a log, synchronously like its appends. */
export function appendSummarySync(dir: string, logBytes: number, summary: RunSummary): void {
  appendFileSync(join(dir, SUMMARIES_FILE), line(logBytes, summary))
}

/** Best effort: a directory that cannot be written (a read-only copy) is listed from the logs. */
export async function appendSummary(dir: string, logBytes: number, summary: RunSummary): Promise<void> {
  await appendFile(join(dir, SUMMARIES_FILE), line(logBytes, summary)).catch(() => undefined)
}

function line(logBytes: number, summary: RunSummary): string {
  return `${JSON.stringify({ logBytes, summary } satisfies SummaryLine)}\n`
}

/** Each run's summary made from the longest log seen, with that log's size. */
export async function readSummaries(dir: string): Promise<Map<string, SummaryLine>> {
  const byRun = new Map<string, SummaryLine>()
  const text = await readFile(join(dir, SUMMARIES_FILE), 'utf8').catch(() => '')
  for (const raw of text.split('\n')) {
    const entry = parse(raw)
    if (entry === undefined) continue
    const known = byRun.get(entry.summary.runId)
    if (known === undefined || known.logBytes < entry.logBytes) byRun.set(entry.summary.runId, entry)
  }
  return byRun
}

function parse(raw: string): SummaryLine | undefined {
  if (raw === '') return undefined
  try {
    const entry = JSON.parse(raw) as Partial<SummaryLine>
    // A line torn by a killed process (and the one appended after it) is skipped: that run's log is read.
    return typeof entry.logBytes === 'number' && typeof entry.summary?.runId === 'string'
      ? (entry as SummaryLine)
      : undefined
  } catch {
    return undefined
  }
}
