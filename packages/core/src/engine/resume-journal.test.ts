import { randomBytes } from 'node:crypto'
import { appendFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { PointWriter, Repository } from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'
import { MemoryStore } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import { XapiError, type XapiClient } from '../xapi/index.js'
import { ResumeJournal } from './resume-journal.js'

const CHUNK = 512 * 1024

function recordingTask() {
  const warnings: string[] = []
  const facts: Record<string, unknown> = {}
  const task = {
    signal: new AbortController().signal,
    info: () => {},
    warn: (m: string) => warnings.push(m),
    progress: () => {},
    set: (d: Record<string, unknown>) => Object.assign(facts, d),
    child: (_n: string, fn: (t: TaskContext) => Promise<unknown>) => fn(task),
  } as TaskContext
  return { task, warnings, facts }
}

/** An attempt that stores chunks 0 and 1 of a 4-chunk disk, journals them, and dies. */
async function interruptedAttempt(dir: string, repo: Repository, vdiUuid: string) {
  const journal = await ResumeJournal.open(dir, 'vm-1')
  const writer = (await PointWriter.begin(repo, { vm: 'vm-1' })).openDisk('d', 4 * CHUNK)
  const xapi = {} as XapiClient
  const disk = { disk: 0, vdi: 'OpaqueRef:a', vdiUuid, writers: [writer], targets: ['local'] }
  expect(await journal.prepareDisk(recordingTask().task, xapi, disk)).toEqual(new Set())
  for (const i of [0, 1]) {
    await writer.putChunk(i, randomBytes(CHUNK))
    journal.stored(0, i)
  }
}

describe('ResumeJournal', () => {
  it('adopts the chunks an interrupted attempt journaled, and forgets them once committed', async () => {
    await using dir = await scratchDir()
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    await interruptedAttempt(dir.dir, repo, 'vdi-1')
    await appendFile(dir.path('vm-1.jsonl'), '{"t":"chu') // torn by the kill
    const journal = await ResumeJournal.open(dir.dir, 'vm-1')
    const writer = (await PointWriter.begin(repo, { vm: 'vm-1' })).openDisk('d', 4 * CHUNK)
    const { task, facts } = recordingTask()
    // Same snapshot VDI: nothing can have changed, no CBT question to ask.
    const disk = { disk: 0, vdi: 'OpaqueRef:a', vdiUuid: 'vdi-1', writers: [writer], targets: ['local'] }
    expect(await journal.prepareDisk(task, {} as XapiClient, disk)).toEqual(new Set([0, 1]))
    expect(facts.resumedChunks).toBe(2)
    await journal.discard()
    const fresh = await ResumeJournal.open(dir.dir, 'vm-1')
    expect(fresh.previous.size).toBe(0)
  })

  it('reads the disk again when the old snapshot is gone or the repositories differ', async () => {
    await using dir = await scratchDir()
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    await interruptedAttempt(dir.dir, repo, 'vdi-1')
    const journal = await ResumeJournal.open(dir.dir, 'vm-1')
    const writer = (await PointWriter.begin(repo, { vm: 'vm-1' })).openDisk('d', 4 * CHUNK)
    const gone = {
      call: () => Promise.reject(new XapiError('UUID_INVALID', ['VDI', 'vdi-1'])),
    } as unknown as XapiClient
    const { task, warnings } = recordingTask()
    const disk = { disk: 0, vdi: 'OpaqueRef:b', vdiUuid: 'vdi-2', writers: [writer], targets: ['local'] }
    expect(await journal.prepareDisk(task, gone, disk)).toEqual(new Set())
    expect(warnings).toEqual([
      'cannot resume the interrupted transfer of disk 0 (its snapshot is gone): reading it again',
    ])
    await using second = await scratchDir()
    await interruptedAttempt(second.dir, repo, 'vdi-1')
    const other = await ResumeJournal.open(second.dir, 'vm-1')
    expect(other.previous.get(0)?.chunks.size).toBe(2)
    const sameVdi = { ...disk, vdiUuid: 'vdi-1', targets: ['offsite'] }
    expect(await other.prepareDisk(recordingTask().task, gone, sameVdi)).toEqual(new Set())
  })
})
