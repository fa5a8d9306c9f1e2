import { describe, expect, it } from 'vitest'
import { otherFacts, sizeFacts } from './task-facts'

const MIB = 1024 * 1024

describe("a task's facts as the task tree shows them", () => {
  it('shows what a restore wrote and the zeros it skipped apart from the disk size the rate counts', () => {
    const data = { size: 32 * MIB, dataBytes: 2048, zeroBytes: 32 * MIB - 2048, vdi: 'x' }
    expect(sizeFacts(data).map((f) => `${f.label} ${f.value}`)).toEqual([
      'size 32.0 MiB',
      'data written 2.00 KiB',
      'zeros skipped 32.0 MiB',
    ])
    expect(otherFacts(data)).toEqual([['vdi', 'x']])
  })

  it('keeps the backup sizes in their order and leaves names and lists out of the other facts', () => {
    const data = { bytesStored: 10, bytesRead: 20, name: 'web-01', full: true, points: [] }
    expect(sizeFacts(data).map((f) => f.key)).toEqual(['bytesRead', 'bytesStored'])
    expect(otherFacts(data)).toEqual([['full', true]])
  })

  it("names the run's pools and repositories instead of their ids and leaves the run's own ids out", () => {
    const data = {
      runId: 'r1',
      jobId: 'job-1',
      jobName: 'Nightly',
      pool: 'pool-5',
      repository: 'repo-9',
      url: 'u',
    }
    const names = { 'pool-5': 'lab', 'repo-9': 'local' }
    expect(otherFacts(data, names)).toEqual([
      ['jobName', 'Nightly'],
      ['pool', 'lab'],
      ['repository', 'local'],
      ['url', 'u'],
    ])
    expect(otherFacts({ pool: 'pool-gone' }, names)).toEqual([['pool', 'pool-gone']])
  })
  it('shows what a differential restore compared, read and rewrote, and how it found the changes', () => {
    const data = {
      size: 48 * MIB,
      comparedBytes: 48 * MIB,
      readBytes: 0,
      rewrittenBytes: 2 * MIB,
      path: 'cbt',
    }
    expect(sizeFacts(data).map((f) => `${f.label} ${f.value}`)).toEqual([
      'size 48.0 MiB',
      'compared 48.0 MiB',
      'read to compare 0 B',
      'rewritten 2.00 MiB',
    ])
    expect(otherFacts(data)).toEqual([['path', 'cbt']])
  })
})
