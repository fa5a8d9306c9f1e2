// Listing many runs (issue 26: 10,000 under a second) reads the summaries the logs' writers append when
// runs end, not the whole logs; a log that grew since is summarized again.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../testing/index.js'
import { appendRunEvent, listRuns, openRunLog, type RunLogWriter } from './run-log.js'
import type { TaskEvent } from './task-tree.js'

const RUNS = 10_000
const VMS = 3
const PROGRESS = 25

/** A run as a nightly job of three VMs writes it: snapshot, transfer with its progress, end. */
function writeRun(log: RunLogWriter, n: number, pid: number): void {
  const at = 1_700_000_000_000 + n * 60_000
  const e = (event: Record<string, unknown>): void =>
    log.append({ time: at, ...event } as unknown as TaskEvent)
  e({ type: 'start', id: '0', name: 'backup run', data: { runId: `run-${n}`, jobId: `job-${n % 7}`, pid } })
  for (let v = 1; v <= VMS; v++) {
    const vm = `${v}`
    e({ type: 'start', id: vm, parentId: '0', name: 'VM', data: { uuid: `uuid-${v}`, name: `vm-${v}` } })
    e({ type: 'start', id: `${vm}.1`, parentId: vm, name: 'snapshot' })
    e({ type: 'end', id: `${vm}.1`, status: 'success' })
    e({ type: 'start', id: `${vm}.2`, parentId: vm, name: 'transfer', data: { disk: 'xvda', size: 8 << 30 } })
    for (let p = 1; p <= PROGRESS; p++) e({ type: 'progress', id: `${vm}.2`, done: p << 28, total: 8 << 30 })
    e({ type: 'end', id: `${vm}.2`, status: 'success' })
    e({ type: 'set', id: vm, data: { points: [{ target: 'repo', pointId: `p-${n}-${v}` }] } })
    e({ type: 'end', id: vm, status: n % 10 === 0 && v === 1 ? 'failure' : 'success' })
  }
  e({ type: 'end', id: '0', status: n % 10 === 0 ? 'failure' : 'success', time: at + 30_000 })
}

describe('listing many runs', () => {
  it(`lists ${RUNS} runs in under a second, from the summaries appended when they ended`, async () => {
    await using dir = await scratchDir()
    for (let n = 0; n < RUNS; n++) {
      const log = await openRunLog(dir.dir, `run-${n}`)
      writeRun(log, n, process.pid)
      log.close()
    }
    const summaries = (await readFile(join(dir.dir, 'summaries.ndjson'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
    expect(summaries).toHaveLength(RUNS)
    await listRuns(dir.dir) // warms the page cache, as a server that has been up a while has it
    const t0 = performance.now()
    const runs = await listRuns(dir.dir)
    const ms = performance.now() - t0
    const failed = await listRuns(dir.dir, { status: 'failure', jobId: 'job-0' })
    console.log(`listed ${RUNS} runs in ${ms.toFixed(0)} ms`)
    expect(runs).toHaveLength(RUNS)
    expect(runs[0]).toMatchObject({ runId: `run-${RUNS - 1}`, status: 'success', vms: { success: VMS } })
    expect(runs[0]!.points.map((p) => p.pointId)).toEqual([1, 2, 3].map((v) => `p-${RUNS - 1}-${v}`))
    expect(failed.map((r) => r.runId)).toEqual(
      runs.filter((r) => r.status === 'failure' && r.jobId === 'job-0').map((r) => r.runId),
    )
    expect(failed.length).toBeGreaterThan(0)
    expect(ms).toBeLessThan(1000)
  }, 120_000)

  it('reads a log again when it grew since its summary, and summarizes logs of older versions', async () => {
    await using dir = await scratchDir()
    const log = await openRunLog(dir.dir, 'r1')
    log.append({ type: 'start', id: '0', name: 'backup run', data: { runId: 'r1', jobId: 'j' }, time: 1 })
    log.append({ type: 'end', id: '0', status: 'success', time: 2 })
    log.close()
    expect((await listRuns(dir.dir))[0]).toMatchObject({ status: 'success', end: 2 })
    // Another process appends (the parent of a worker that died): the summary does not hide it.
    await appendRunEvent(dir.dir, 'r1', { type: 'warning', id: '0', message: 'late', time: 3 })
    expect((await listRuns(dir.dir))[0]).toMatchObject({ warnings: 1 })
    // A log without a summary (an older version's) gets one at its first listing.
    const old = JSON.stringify({ type: 'start', id: '0', name: 'backup run', data: { runId: 'r0' }, time: 0 })
    await writeFile(
      join(dir.dir, 'r0.jsonl'),
      `${old}\n{"type":"end","id":"0","status":"failure","time":1}\n`,
    )
    expect((await listRuns(dir.dir)).map((r) => [r.runId, r.status])).toEqual([
      ['r1', 'success'],
      ['r0', 'failure'],
    ])
    const lines = async () => (await readFile(join(dir.dir, 'summaries.ndjson'), 'utf8')).split('\n')
    expect((await lines()).filter((l) => l.includes('"runId":"r0"'))).toHaveLength(1)
    // A torn line (a process killed while appending) is read past, and the next line with it.
    await writeFile(join(dir.dir, 'summaries.ndjson'), '{"logBytes":', { flag: 'a' })
    expect((await listRuns(dir.dir)).map((r) => r.status)).toEqual(['success', 'failure'])
    expect((await listRuns(dir.dir)).map((r) => r.status)).toEqual(['success', 'failure'])
  })
})
