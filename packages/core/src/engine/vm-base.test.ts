import { describe, expect, it } from 'vitest'
import { silentTask, type TaskContext } from '../shared/index.js'
import type { DiskBase } from './disk-transfer.js'
import { commonBases, type TargetBase } from './vm-base.js'
import type { SnapshotDisk } from './vm-snapshot.js'

const disk = (uuid: string) => ({ live: { vdiRecord: { uuid } } }) as unknown as SnapshotDisk
const base = (...disks: (DiskBase | undefined)[]) =>
  ({ ref: { vm: 'vm', pointId: 'p' }, baseDisks: disks.map((_, i) => i), disks }) as unknown as TargetBase
const b = (vdi: string): DiskBase => ({ vdi, hasData: true, cbt: true })

describe('commonBases', () => {
  it('keeps a disk base only where every target agrees, with a warning otherwise', () => {
    const warnings: string[] = []
    const task: TaskContext = { ...silentTask(), warn: (m) => void warnings.push(m) }
    const disks = [disk('a'), disk('b'), disk('c')]
    const result = commonBases(
      task,
      [base(b('s1'), b('s2'), undefined), base(b('s1'), b('s3'), undefined)],
      disks,
    )
    expect(result).toEqual([b('s1'), undefined, undefined])
    expect(warnings).toEqual(['targets disagree on the base of VDI b: full read'])
  })

  it('has no base when one target has no point yet', () => {
    const task = silentTask()
    expect(commonBases(task, [base(b('s1')), undefined], [disk('a')])).toEqual([undefined])
    expect(commonBases(task, [base(b('s1'))], [disk('a')])).toEqual([b('s1')])
  })
})
