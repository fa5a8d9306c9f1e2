// `strata xo import` on XO remotes built from the format description: every imported point restores
// byte for byte with `strata restore disk`, dated and tagged as its XO point; bad points are skipped with
// the reason; a second run imports nothing; a run killed with SIGKILL leaves no point half-written and
// the next one finishes the job without importing anything twice; the remote (a directory, and radosgw
// for one case) is left exactly as it was, contents and modification times.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore, type ObjectStore } from '@strata/core/storage'
import {
  createTestBucket,
  requireBinary,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import { openRepositoryFromEnv } from '@strata/core/open'
import { readManifest } from '@strata/core/repository'
import {
  buildLongChain,
  buildScenario,
  dirSink,
  JOB,
  storeSink,
  VM,
  type Scenario,
} from '@strata/core/xo/testing'
import type { ImportedMetadata } from '@strata/core/xo'
import { LabPool } from '@strata/lab'
import { runCli, startCli } from '../testing/cli-harness.js'

requireBinary('radosgw')
const KEY = 'an XO key of exactly 32 chars!!!'
const BIN = fileURLToPath(new URL('../../bin/strata.js', import.meta.url))

interface Report {
  imported: {
    backup: string
    point: string
    timestamp: number
    jobId: string
    disks: number
    base?: string
    chunksRead: number
  }[]
  skipped: { backup: string; reason: string; code: string; point?: string }[]
}

let scratch: Scratch
let scenario: Scenario
beforeAll(async () => {
  scratch = await scratchDir('strata-xo-import-')
  scenario = await buildScenario(dirSink(scratch.path('remote')))
}, 120_000)
afterAll(() => scratch?.[Symbol.asyncDispose]())

async function initRepo(name: string, chunkSize = '2M'): Promise<string> {
  const repo = scratch.path(name)
  expect(await runCli(['repo', 'init', '--repo', repo, '--chunk-size', chunkSize])).toMatchObject({ code: 0 })
  return repo
}

async function importRemote(remote: string, repo: string, ...more: string[]): Promise<Report> {
  const { code, out, err } = await runCli([
    'xo',
    'import',
    '--remote',
    remote,
    '--repo',
    repo,
    '--json',
    ...more,
  ])
  expect(code, err).toBe(0)
  return JSON.parse(out) as Report
}

/** Every file and directory below `root`: its bytes' hash and its modification time. */
async function treeState(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    const { mtimeMs } = await stat(path)
    const hash = entry.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : 'dir'
    out.set(path, `${hash} ${mtimeMs}`)
  }
  out.set(root, `dir ${(await stat(root)).mtimeMs}`)
  return out
}

async function restoreDisk(repo: string, point: string, disk: number): Promise<Buffer> {
  const out = scratch.path(`restored-${createHash('md5').update(point).digest('hex')}-${disk}.raw`)
  const { code, err } = await runCli([
    'restore',
    'disk',
    '--repo',
    repo,
    '--point',
    point,
    '--disk',
    String(disk),
    '--to',
    out,
    '--force',
  ])
  expect(code, err).toBe(0)
  return readFile(out)
}

describe('strata xo import', () => {
  let repo: string
  let first: Report

  it('imports every usable point, restorable byte for byte, and skips the bad ones with the reason', async () => {
    const remote = scratch.path('remote')
    const before = await treeState(remote)
    repo = await initRepo('repo')
    first = await importRemote(remote, repo)
    expect(await treeState(remote)).toEqual(before)

    const usable = [...scenario.points].filter(
      ([, p]) => p.unusable === undefined && p.failsWith === undefined,
    )
    expect(first.imported.map((p) => p.backup).sort()).toEqual(usable.map(([id]) => id).sort())
    for (const [id, expected] of scenario.points) {
      const skipped = first.skipped.find((s) => s.backup === id)
      if (expected.unusable !== undefined) expect(skipped?.reason, id).toMatch(expected.unusable)
      if (expected.failsWith !== undefined) expect(skipped?.code, id).toBe(expected.failsWith)
    }
    for (const [id, expected] of usable) {
      const imported = first.imported.find((p) => p.backup === id)!
      expect(imported.disks).toBe(expected.disks.length)
      // The point's id carries the XO point's date: it sorts with the VM's other points by that date.
      expect(imported.point).toMatch(
        new RegExp(`^${expected.vm}/${new Date(expected.timestamp).toISOString().replace(/[-:.]/g, '')}-`),
      )
      for (const [d, image] of expected.disks.entries())
        expect((await restoreDisk(repo, imported.point, d)).equals(image), `${id} disk ${d}`).toBe(true)
    }
  }, 240_000)

  it('records the VM records, the XO point, its date and its job in the restore point', async () => {
    const [id, expected] = [...scenario.points].find(([, p]) => p.vm === VM.delta)!
    const point = first.imported.find((p) => p.backup === id)!
    const { code, out } = await runCli(['repo', 'snapshots', '--repo', repo, '--long', '--json'])
    expect(code).toBe(0)
    const rows = JSON.parse(out) as { ref: string; time: string; jobId?: string; tags?: string[] }[]
    expect(rows.find((r) => r.ref === point.point)).toMatchObject({
      time: new Date(expected.timestamp).toISOString(),
      jobId: JOB,
      tags: [`xo-backup:${id}`],
    })
    const opened = await openRepositoryFromEnv(repo, { env: {}, signal: AbortSignal.timeout(30_000) })
    const [vm, pointId] = point.point.split('/') as [string, string]
    const manifest = await readManifest(opened, { vm, pointId })
    const meta = manifest.vm.metadata as ImportedMetadata
    expect(meta.kind).toBe('strata-vm') // what `strata restore vm` rebuilds a VM from
    expect(meta.vm.name_label).toBe('web')
    expect(meta.disks.map((d) => d.vdi.name_label)).toEqual(['web disk 0', 'web disk 1'])
    expect(meta.vifs[0]!.$network.name_label).toBe('Pool-wide network associated with eth0')
    expect(meta.xo).toMatchObject({ backup: id, mode: 'delta', jobId: JOB, timestamp: expected.timestamp })
  })

  it('gives points that `strata restore vm` rebuilds a VM from, delta and full', async () => {
    const lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: [] })
    try {
      const pool = [
        '--pool',
        lab.url,
        '--fingerprint',
        lab.fingerprint,
        '--user',
        'root',
        '--password',
        lab.password,
      ]
      for (const [id, expected] of [deltaPoint(scenario), fullPoint(scenario)]) {
        const point = first.imported.find((p) => p.backup === id)!.point
        const { code, out, err } = await runCli([
          'restore',
          'vm',
          '--repo',
          repo,
          '--point',
          point,
          ...pool,
          '--json',
        ])
        expect(code, err).toBe(0)
        const { vmUuid } = JSON.parse(out) as { vmUuid: string }
        const vm = lab.state.db.find('VM', (r) => r.uuid === vmUuid)[0]![0]
        const disks = lab.guest.disks(vm)
        expect(disks).toHaveLength(expected.disks.length)
        for (const [i, vdi] of disks.entries())
          expect((await lab.readDisk(vdi)).equals(expected.disks[i]!), `${id} disk ${i}`).toBe(true)
        if (expected.mode === 'delta') expect(lab.state.db.get('VM', vm).VIFs).toHaveLength(1)
      }
    } finally {
      await lab.close()
    }
  }, 120_000)

  it('imports nothing the second time: every point is already in, or still unusable', async () => {
    const again = await importRemote(scratch.path('remote'), repo)
    expect(again.imported).toEqual([])
    const already = again.skipped.filter((s) => s.code === 'XO_ALREADY_IMPORTED')
    expect(already.map((s) => [s.backup, s.point]).sort()).toEqual(
      first.imported.map((p) => [p.backup, p.point]).sort(),
    )
  }, 120_000)

  it('imports only the VMs named, from the date given', async () => {
    const other = await initRepo('repo-filtered')
    const points = [...scenario.points]
      .filter(([, p]) => p.vm === VM.delta)
      .sort((a, b) => a[1].timestamp - b[1].timestamp)
    const since = new Date(points[1]![1].timestamp).toISOString()
    const report = await importRemote(scratch.path('remote'), other, '--vm', 'web', '--since', since)
    expect(report.imported.map((p) => p.backup).sort()).toEqual(
      points
        .slice(1)
        .map(([id]) => id)
        .sort(),
    )
    expect(
      await runCli(['xo', 'import', '--remote', scratch.path('remote'), '--repo', other, '--vm', 'nope']),
    ).toMatchObject({
      code: 1,
      err: expect.stringMatching(/XO_BACKUP_NOT_FOUND.*'nope'/),
    })
  }, 120_000)
})

const deltaPoint = (s: Scenario) => [...s.points].filter(([, p]) => p.vm === VM.delta).at(-1)!
const fullPoint = (s: Scenario) => [...s.points].find(([, p]) => p.mode === 'full')!

/** The committed restore points of a local repository (a point is visible once its manifest is). */
async function manifests(repo: string): Promise<number> {
  const entries = await readdir(join(repo, 'points'), { recursive: true }).catch(() => [] as string[])
  return entries.filter((e) => e.endsWith('/manifest') || e === 'manifest').length
}

describe('a killed import', () => {
  it('leaves no half-written point, and the next run imports the rest without importing anything twice', async () => {
    const remote = scratch.path('long')
    const { ids, images } = await buildLongChain(dirSink(remote), 24)
    const before = await treeState(remote)
    const repo = await initRepo('repo-killed', '512k')
    const child = spawn(
      process.execPath,
      [BIN, 'xo', 'import', '--remote', remote, '--repo', repo, '--json'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const exited = new Promise<string | null>((resolve) =>
      child.on('close', (_code, signal) => resolve(signal)),
    )
    let seen = 0
    for (let waited = 0; seen < 3 && waited < 120_000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20))
      seen = await manifests(repo)
    }
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
    const committed = await manifests(repo)
    expect(committed).toBeGreaterThanOrEqual(3)
    expect(committed).toBeLessThan(ids.length)
    expect(await runCli(['repo', 'check', '--repo', repo])).toMatchObject({ code: 0 })

    const resumed = await importRemote(remote, repo)
    expect(resumed.skipped.filter((s) => s.code === 'XO_ALREADY_IMPORTED')).toHaveLength(committed)
    expect(resumed.imported).toHaveLength(ids.length - committed)
    // Each goes on from the point before it, the killed run's last one first: only the VHDs since are
    // read (one 2 MiB block a delta: four 512 KiB chunks).
    const refs = [...resumed.skipped.map((s) => s.point!), ...resumed.imported.map((p) => p.point)]
    for (const [n, p] of resumed.imported.entries()) {
      expect(p.base).toBe(refs[committed + n - 1])
      expect(p.chunksRead).toBeLessThanOrEqual(4)
    }
    expect(await manifests(repo)).toBe(ids.length)
    expect(await treeState(remote)).toEqual(before)

    const all = await importRemote(remote, repo)
    expect(all.imported).toEqual([])
    const byBackup = new Map(all.skipped.map((s) => [s.backup, s.point!]))
    for (const n of [0, committed - 1, committed, ids.length - 1])
      expect((await restoreDisk(repo, byBackup.get(ids[n]!)!, 0)).equals(images[n]!), `point ${n}`).toBe(true)
  }, 300_000)
})

describe('an import stopped by Ctrl-C', () => {
  it('stops between chunks, commits nothing of the point it was in, and resumes', async () => {
    const remote = scratch.path('remote')
    const repo = await initRepo('repo-interrupted')
    const stop = new AbortController()
    const { done } = startCli(['xo', 'import', '--remote', remote, '--repo', repo, '--json'], stop.signal)
    let seen = 0
    for (let waited = 0; seen < 1 && waited < 60_000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10))
      seen = await manifests(repo)
    }
    stop.abort()
    expect(await done).not.toBe(0)
    const committed = await manifests(repo)
    expect(committed).toBeGreaterThanOrEqual(1)
    const resumed = await importRemote(remote, repo)
    expect(resumed.skipped.filter((s) => s.code === 'XO_ALREADY_IMPORTED')).toHaveLength(committed)
    const usable = [...scenario.points].filter(
      ([, p]) => p.unusable === undefined && p.failsWith === undefined,
    )
    expect(resumed.imported).toHaveLength(usable.length - committed)
    expect(await manifests(repo)).toBe(usable.length)
  }, 120_000)
})

describe('strata xo import from an encrypted remote', () => {
  it('imports delta and full points with the key, byte for byte; a block failing authentication skips its point', async () => {
    const remote = scratch.path('encrypted')
    const encrypted = await buildScenario(dirSink(remote), { encryption: 'aes-256-gcm', key: KEY })
    const repo = await initRepo('repo-encrypted')
    process.env.STRATA_XO_KEY = KEY
    try {
      const report = await importRemote(remote, repo, '--vm', VM.full, '--vm', VM.gzip, '--vm', VM.bad)
      const expected = [...encrypted.points].filter(
        ([, p]) => p.vm === VM.full || p.vm === VM.gzip || p.vm === VM.bad,
      )
      const usable = expected.filter(([, p]) => p.unusable === undefined && p.failsWith === undefined)
      expect(report.imported.map((p) => p.backup).sort()).toEqual(usable.map(([id]) => id).sort())
      const [tampered] = expected.find(([, p]) => p.failsWith !== undefined)!
      expect(report.skipped.find((s) => s.backup === tampered)).toMatchObject({
        code: 'XO_AUTH_FAILED',
        reason: expect.stringMatching(/authentica/),
      })
      for (const [id, point] of usable) {
        const imported = report.imported.find((p) => p.backup === id)!
        expect(imported.disks).toBe(point.disks.length)
        for (const [d, image] of point.disks.entries())
          expect((await restoreDisk(repo, imported.point, d)).equals(image), `${id} disk ${d}`).toBe(true)
      }
    } finally {
      delete process.env.STRATA_XO_KEY
    }
  }, 120_000)
})

describe('strata xo import from an S3 remote', () => {
  it('imports from radosgw, restorable byte for byte, writing nothing to the bucket', async () => {
    const server = useS3Server()
    const location = s3Location(server, await createTestBucket(server), 'xo-import')
    const store = await openStore(location, s3Env(server))
    let s3Scenario: Scenario
    let before: string[]
    try {
      s3Scenario = await buildScenario(storeSink(store))
      before = await storeState(store)
      Object.assign(process.env, s3Env(server))
      const repo = await initRepo('repo-s3', '1M')
      const report = await importRemote(location, repo, '--vm', VM.gzip, '--vm', VM.full)
      const expected = [...s3Scenario.points].filter(([, p]) => p.vm === VM.gzip || p.vm === VM.full)
      expect(report.imported.map((p) => p.backup).sort()).toEqual(expected.map(([id]) => id).sort())
      for (const [id, point] of expected) {
        const imported = report.imported.find((p) => p.backup === id)!
        for (const [d, image] of point.disks.entries())
          expect((await restoreDisk(repo, imported.point, d)).equals(image), `${id} disk ${d}`).toBe(true)
      }
      expect(await storeState(store)).toEqual(before)
    } finally {
      await store.close?.()
    }
  }, 240_000)
})

/** Every object: key, content hash and modification time. */
async function storeState(store: ObjectStore): Promise<string[]> {
  const out: string[] = []
  for await (const info of store.list('')) {
    const hash = createHash('sha256')
      .update(await store.get(info.key))
      .digest('hex')
    out.push(`${info.key} ${hash} ${info.modified?.getTime() ?? '?'}`)
  }
  return out.sort()
}
