// Where a file's data is allocated. Node has no lseek(SEEK_DATA), so the map comes from `filefrag`
// (e2fsprogs; the FIEMAP ioctl, with a sync first so that delayed allocations count). Without it, or on
// a filesystem without FIEMAP, callers fall back to reading. The parser is pure and tested apart.
import { execFile } from 'node:child_process'

/** An allocated run of the file, [start, end) in bytes; `unwritten` runs are allocated but read as zeros. */
export interface AllocatedRun {
  readonly start: number
  readonly end: number
  readonly unwritten: boolean
}

const BLOCK = 4096
const ROW = /^\s*\d+:\s*(\d+)\.\.\s*(\d+):\s*\d+\.\.\s*\d+:\s*(\d+):(?:\s*\d+:)?\s*(.*)$/

/** Parses `filefrag -e -b4096` output into sorted runs; undefined when it does not look like one. */
export function parseFilefrag(text: string): AllocatedRun[] | undefined {
  if (!/File size of .* \(\d+ blocks of 4096 bytes\)/.test(text)) return undefined
  const runs: AllocatedRun[] = []
  for (const line of text.split('\n')) {
    const m = ROW.exec(line)
    if (m === null) continue
    const start = Number(m[1]) * BLOCK
    const end = (Number(m[2]) + 1) * BLOCK
    if (end - start !== Number(m[3]) * BLOCK) return undefined
    runs.push({ start, end, unwritten: m[4]!.includes('unwritten') })
  }
  return runs.sort((a, b) => a.start - b.start)
}

const CANDIDATES = ['filefrag', '/usr/sbin/filefrag', '/sbin/filefrag']

/** The allocation map of `path`, or undefined when it cannot be known. */
export async function readAllocationMap(path: string): Promise<AllocatedRun[] | undefined> {
  for (const bin of CANDIDATES) {
    const out = await new Promise<string | undefined>((resolve) =>
      execFile(bin, ['-e', '-s', '-b4096', path], { maxBuffer: 256 * 1024 * 1024 }, (error, stdout) =>
        resolve(error === null ? stdout : undefined),
      ),
    )
    if (out !== undefined) return parseFilefrag(out)
  }
  return undefined
}
