// Resuming an interrupted backup from the last stored chunk. While a VM's disks transfer, every chunk
// stored in the targets is journaled (disk, index, chunk id per target) in the run state directory with
// the snapshot VDI it was read from. When an attempt dies (a killed worker, a crash), the next attempt
// asks CBT which chunks changed between that snapshot and its own: the others are adopted by id into its
// writers (the repository checks they still exist) and are not read again.
import { appendFileSync, mkdirSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { DiskWriter } from '../repository/index.js'
import { errorMessage, type TaskContext } from '../shared/index.js'
import { isXapiError, listChangedBlocks, type Ref, type XapiClient } from '../xapi/index.js'
import { waitOutInUse } from '../xapi/index.js'

export interface ResumeDisk {
  readonly disk: number
  /** The snapshot VDI this attempt reads. */
  readonly vdi: Ref
  readonly vdiUuid: string
  /** One writer per target, in the order of `targets`. */
  readonly writers: readonly DiskWriter[]
  readonly targets: readonly string[]
}

/** What the data path calls while it transfers one VM (see VmBackupSettings.resume). */
export interface ResumeHooks {
  /** Adopts the chunks an interrupted attempt stored and that did not change since; returns their indexes. */
  prepareDisk(task: TaskContext, xapi: XapiClient, disk: ResumeDisk): Promise<ReadonlySet<number>>
  /** Chunk `index` of disk `disk` is now stored in every writer. */
  stored(disk: number, index: number): void
}

type Line =
  | { t: 'disk'; disk: number; vdi: string; targets: string[] }
  | { t: 'chunk'; disk: number; index: number; ids: string[] }

interface JournaledDisk {
  vdi: string
  targets: string[]
  chunks: Map<number, string[]>
}

export class ResumeJournal implements ResumeHooks {
  readonly #writers = new Map<number, readonly DiskWriter[]>()

  private constructor(
    readonly path: string,
    readonly previous: Map<number, JournaledDisk>,
  ) {}

  /** Reads what an earlier attempt left for this VM and starts this attempt's journal. */
  static async open(dir: string, vmUuid: string): Promise<ResumeJournal> {
    mkdirSync(dir, { recursive: true })
    const path = join(dir, `${vmUuid}.jsonl`)
    // Appended to, not truncated: disks this attempt never reaches keep the earlier attempt's lines.
    return new ResumeJournal(path, parse(await readFile(path, 'utf8').catch(() => '')))
  }

  /** The backup committed: nothing is left to resume. */
  async discard(): Promise<void> {
    await rm(this.path, { force: true })
  }

  async prepareDisk(task: TaskContext, xapi: XapiClient, d: ResumeDisk): Promise<ReadonlySet<number>> {
    this.#writers.set(d.disk, d.writers)
    this.#append({ t: 'disk', disk: d.disk, vdi: d.vdiUuid, targets: [...d.targets] })
    const before = this.previous.get(d.disk)
    if (before === undefined || before.chunks.size === 0) return new Set()
    if (before.vdi === d.vdiUuid) return this.#adopt(task, d, before, [])
    const changed = await this.#changedSince(task, xapi, before, d)
    return changed === undefined ? new Set() : this.#adopt(task, d, before, changed)
  }

  stored(disk: number, index: number): void {
    const writers = this.#writers.get(disk)
    if (writers === undefined) return
    const ids = writers.map((w) => Buffer.from(w.idAt(index)).toString('hex'))
    this.#append({ t: 'chunk', disk, index, ids })
  }

  /** Chunks changed between the interrupted attempt's snapshot and this one, by CBT; undefined: unknown. */
  async #changedSince(
    task: TaskContext,
    xapi: XapiClient,
    before: JournaledDisk,
    d: ResumeDisk,
  ): Promise<number[] | undefined> {
    const chunkSize = d.writers[0]!.repo.chunkSize
    try {
      const old = await xapi.call<Ref>('VDI.get_by_uuid', [before.vdi], task.signal)
      const changed = await waitOutInUse(
        () => listChangedBlocks(xapi, old, d.vdi, { signal: task.signal }),
        task.signal,
      )
      return changed.changedBlocks(chunkSize)
    } catch (error) {
      if (task.signal.aborted) throw error
      const why = isXapiError(error, 'UUID_INVALID') ? 'its snapshot is gone' : errorMessage(error)
      task.warn(`cannot resume the interrupted transfer of disk ${d.disk} (${why}): reading it again`)
      return undefined
    }
  }

  async #adopt(
    task: TaskContext,
    d: ResumeDisk,
    before: JournaledDisk,
    changed: number[],
  ): Promise<Set<number>> {
    const skip = new Set(changed)
    const adopted = new Set<number>()
    const column = d.targets.map((t) => before.targets.indexOf(t))
    if (column.some((c) => c < 0)) return adopted // another set of repositories: nothing to reuse
    for (const [index, ids] of before.chunks) {
      if (skip.has(index)) continue
      let all = true
      for (const [k, writer] of d.writers.entries()) {
        const id = Buffer.from(ids[column[k]!] ?? '', 'hex')
        all = all && (await writer.adopt(index, id, task.signal))
      }
      if (!all) continue
      adopted.add(index)
      this.stored(d.disk, index)
    }
    if (adopted.size > 0)
      task.info(`resumed: ${adopted.size} chunks stored by an interrupted attempt are not read again`, {
        disk: d.disk,
        chunks: adopted.size,
      })
    task.set({ resumedChunks: adopted.size })
    return adopted
  }

  #append(line: Line): void {
    // Synchronous: a killed process keeps every line it wrote.
    appendFileSync(this.path, `${JSON.stringify(line)}\n`)
  }
}

function parse(text: string): Map<number, JournaledDisk> {
  const disks = new Map<number, JournaledDisk>()
  for (const raw of text.split('\n')) {
    let line: Line
    try {
      line = JSON.parse(raw) as Line
    } catch {
      continue // a torn last line
    }
    if (line?.t === 'disk' && typeof line.vdi === 'string' && Array.isArray(line.targets))
      disks.set(line.disk, { vdi: line.vdi, targets: line.targets.map(String), chunks: new Map() })
    else if (line?.t === 'chunk' && Array.isArray(line.ids))
      disks.get(line.disk)?.chunks.set(Number(line.index), line.ids.map(String))
  }
  return disks
}
