// Optional persistence: the database, disk chains and CBT logs as one JSON file beside the disk files.
// Sessions and tasks are not saved, like xapi across a toolstack restart.
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LabState } from './api/lab-state.js'
import type { Row } from './db/database.js'
import type { CbtState } from './disks/cbt.js'
import type { DiskStoreState } from './disks/disk-store.js'

interface Saved {
  version: 1
  generation: number
  tables: Record<string, Record<string, Row>>
  disks: DiskStoreState
  cbt: CbtState
  vtpm?: Record<string, string>
}

export async function saveState(lab: LabState, dir: string): Promise<void> {
  const tables: Saved['tables'] = {}
  for (const [cls, table] of lab.db.tables)
    if (cls !== 'task' && cls !== 'session') tables[cls] = Object.fromEntries(table)
  const saved: Saved = {
    version: 1,
    generation: lab.db.generation,
    tables,
    disks: lab.disks.state(),
    cbt: lab.cbt.state(),
  }
  const file = join(dir, 'lab-state.json')
  await writeFile(`${file}.tmp`, JSON.stringify(saved))
  await rename(`${file}.tmp`, file)
}

/** Loads a saved lab; false when the directory holds none. */
export async function loadState(lab: LabState, dir: string): Promise<boolean> {
  let text: string
  try {
    text = await readFile(join(dir, 'lab-state.json'), 'utf8')
  } catch {
    return false
  }
  const saved = JSON.parse(text) as Saved
  for (const [cls, rows] of Object.entries(saved.tables)) {
    for (const [ref, row] of Object.entries(rows)) lab.db.create(cls, row, ref)
  }
  lab.db.generation = saved.generation
  lab.disks.load(saved.disks)
  lab.cbt.load(saved.cbt)
  for (const [ref, contents] of Object.entries(saved.vtpm ?? {})) lab.vtpmContents.set(ref, contents)
  return true
}
