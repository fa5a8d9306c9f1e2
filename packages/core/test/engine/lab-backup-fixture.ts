// Helpers for the per-VM backup and restore tests: a lab pool with a client, a fresh repository (local or
// S3), byte comparisons of restore points with the snapshots they came from, and the leak check that
// follows every case (no snapshot beyond retention, no dom0 VBD, no task, no blocked operation, no
// memory image left without its VM).
import { readFile } from 'node:fs/promises'
import { expect } from 'vitest'
import { LabPool, type LabOptions } from '@strata/lab'
import { createPoolLimits, restoreDiskToFile, type PoolLimits } from '../../src/engine/index.js'
import { readManifest, resolvePoint, Repository } from '../../src/repository/index.js'
import { silentTask } from '../../src/shared/index.js'
import { LocalStore, openStore } from '../../src/storage/index.js'
import { createTestBucket, s3Env, s3Location, scratchDir, type Scratch } from '../../src/testing/index.js'
import type { S3ServerInfo } from '../../src/testing/index.js'
import { XapiClient } from '../../src/xapi/index.js'

export interface LabEnv {
  readonly lab: LabPool
  readonly xapi: XapiClient
  readonly limits: PoolLimits
  readonly repo: Repository
  readonly scratch: Scratch
  close(): Promise<void>
}

export async function startLabEnv(
  options: LabOptions & { s3?: S3ServerInfo; chunkSize?: number },
): Promise<LabEnv> {
  const scratch = await scratchDir()
  const lab = await LabPool.start({ authFailureDelayMs: 10, dom0DetachMs: 300, ...options })
  const xapi = new XapiClient(lab.connection)
  const store =
    options.s3 === undefined
      ? new LocalStore(scratch.path('repo'))
      : await openStore(s3Location(options.s3, await createTestBucket(options.s3)), s3Env(options.s3))
  // 1 MiB by default: chunks smaller than VHD blocks; the S3 tests use 2 MiB (one chunk per block).
  const repo = await Repository.create(store, { chunkSize: options.chunkSize ?? 1024 * 1024 })
  return {
    lab,
    xapi,
    limits: createPoolLimits(),
    repo,
    scratch,
    async close() {
      await xapi.close()
      await lab.close()
      await scratch[Symbol.asyncDispose]()
    },
  }
}

/** Refs of a lab object by uuid. */
export function labRef(lab: LabPool, cls: string, uuid: string): string {
  const found = lab.state.db.find(cls, (r) => r.uuid === uuid)[0]
  if (found === undefined) throw new Error(`no ${cls} ${uuid} in the lab`)
  return found[0]
}

/**
 * Every disk of a point, restored to raw files, equals the snapshot VDI it was read from; its memory image
 * (if any, the disk after them) equals the checkpoint's suspend VDI.
 */
export async function expectPointEqualsSnapshots(env: LabEnv, pointId: string): Promise<void> {
  const ref = await resolvePoint(env.repo, pointId)
  const manifest = await readManifest(env.repo, ref)
  const meta = manifest.vm.metadata as { disks: { snapshot: string }[]; memory?: { snapshot: string } }
  const memory = meta.memory === undefined ? [] : [meta.memory]
  expect(meta.disks.length + memory.length).toBe(manifest.disks.length)
  expect(manifest.disks.map((d) => d.role)).toEqual([
    ...meta.disks.map(() => undefined),
    ...memory.map(() => 'memory'),
  ])
  for (const [i, disk] of [...meta.disks, ...memory].entries()) {
    const path = env.scratch.path(`restore-${pointId}-${i}.raw`)
    await restoreDiskToFile(silentTask(), { repository: env.repo, pointId, disk: i, path, format: 'raw' })
    const expected = await env.lab.readDisk(labRef(env.lab, 'VDI', disk.snapshot))
    expect(Buffer.compare(await readFile(path), expected), `disk ${i} of point ${pointId}`).toBe(0)
  }
}

/** Nothing left on the pool beyond what retention keeps; waits out dom0 VBDs' detach delay. */
export async function expectNoLeaks(env: LabEnv, keep = 1): Promise<void> {
  const { db } = env.lab.state
  const deadline = Date.now() + 5000
  const dom0 = new Set(db.find('VM', (r) => r.is_control_domain === true).map(([ref]) => ref))
  const dom0Vbds = () => db.find('VBD', (r) => dom0.has(String(r.VM)))
  while (dom0Vbds().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  expect(dom0Vbds(), 'dom0 VBDs').toEqual([])
  const pending = db.find('task', (r) => r.status === 'pending')
  expect(
    pending.map(([, r]) => r.name_label),
    'pending tasks',
  ).toEqual([])
  for (const [ref, vm] of db.find('VM', (r) => r.is_a_snapshot !== true && r.is_control_domain !== true)) {
    if (vm.is_a_template === true) continue
    const snaps = db.find('VM', (r) => r.snapshot_of === ref)
    expect(snaps.length, `snapshots of ${String(vm.name_label)}`).toBeLessThanOrEqual(keep)
    const blocked = Object.keys((vm.blocked_operations ?? {}) as object)
    expect(blocked, `blocked operations of ${String(vm.name_label)}`).toEqual([])
  }
  for (const [ref, vdi] of db.find('VDI', (r) => r.is_a_snapshot !== true)) {
    const withData = db.find('VDI', (r) => r.snapshot_of === ref && r.type !== 'cbt_metadata')
    expect(withData.length, `snapshots of VDI ${String(vdi.name_label)}`).toBeLessThanOrEqual(keep)
  }
  expect(orphanSuspendVdis(env), 'suspend VDIs of no VM').toEqual([])
}

/** Memory images (suspend VDIs) that no VM or snapshot names as its suspend_VDI any more. */
export function orphanSuspendVdis(env: LabEnv): string[] {
  const { db } = env.lab.state
  const named = new Set(db.find('VM', () => true).map(([, vm]) => String(vm.suspend_VDI)))
  return db
    .find('VDI', (vdi, ref) => vdi.type === 'suspend' && !named.has(ref))
    .map(([, vdi]) => String(vdi.name_label))
}
