// Several hosts, one repository (docs/scale-out.md): two hosts, each a `strata backup run` process of its
// own against its own lab pool, back up different VMs into one S3 repository (the shared radosgw) at the
// same time, with retention, while a third process runs `strata repo gc --margin 0s` over and over. The
// disks' contents alternate, so that every backup after the second stores again the chunks retention
// has just made garbage: the case the sweep announcements exist for. Every point restores byte-identical
// to the disk it was taken from (right after its run, and the survivors again at the end), and `repo
// check` and `repo verify` pass. The same scenario with a GC that lacks the announcements
// (testing/naive-gc.ts) loses chunks: the test can tell.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository, checkRepository, collectGarbage } from '@strata/core/repository'
import { openStore } from '@strata/core/storage'
import {
  createTestBucket,
  requireBinary,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import type { LabPool } from '@strata/lab'
import { startLabPools, type LabPools } from '@strata/lab/testing'
import { naiveGcPass, withSlowMark } from '../testing/naive-gc.js'
import {
  backupOnce,
  sha256,
  strataProcess,
  writeHostJob,
  type Host,
  type PointRecord,
} from '../testing/shared-repo-hosts.js'
import { main } from '../main.js'

const CHUNK = 512 * 1024
/** Runs per host. Retention keeps one point and the contents alternate: runs 2 and 3 store garbage again. */
const RUNS = 4
const GENERATIONS = 2
/** GC passes run at once, staggered, each taking this long from its mark phase to its sweep. */
const SLOW_PASSES = 3
const MARK_MS = 12_000

interface GcPass {
  chunksDeleted: number
}

interface Verified {
  chunks: number
  checked: number
  bad: unknown[]
  flaky: unknown[]
}

interface Outcome {
  readonly location: string
  readonly points: PointRecord[]
  /** Points whose restore right after their run did not give their disk's bytes (or failed). */
  readonly badRestores: string[]
  readonly retried: number
  readonly gcPasses: number
  readonly gcPassesOf: number[]
  readonly gcDeleted: number
  /** Deleted by the passes that ended before the last backup did. */
  readonly gcDeletedDuring: number
  /** What each pass deleted, in the order the passes ended. */
  readonly gcDeletedBy: number[]
  readonly seconds: number
}

describe('two hosts backing up into one S3 repository while GC runs', () => {
  let pools: LabPools
  let scratch: Scratch
  let env: Record<string, string>
  let s3: ReturnType<typeof useS3Server>
  let restores = 0

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'openssl']) requireBinary(tool)
    s3 = useS3Server()
    env = s3Env(s3)
    Object.assign(process.env, env) // for the commands this test runs in-process (check, restore)
    scratch = await scratchDir('strata-gc-hosts-')
    const vm = (name: string) => ({ name, power: 'Halted' as const, disks: [8] })
    const options = { authFailureDelayMs: 10, dom0DetachMs: 50 }
    pools = await startLabPools({ ...options, vms: [vm('a1')] }, { ...options, vms: [vm('b1')] })
  })
  afterAll(async () => {
    await pools?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('restores every point byte-identical and passes check and verify', async () => {
    const gcArgs = (location: string) => ['repo', 'gc', '--repo', location, '--margin', '0s', '--json']
    // The GC as an admin runs it, in a process of its own, over and over. One that finds a running
    // backup's base gone (retention, right after that backup committed and closed its session) deletes
    // nothing and says GC_UNSAFE: counted, not a failure.
    const cliPass = async (location: string): Promise<number> => {
      const { code, out, err } = await strataProcess(gcArgs(location), env)
      if (code !== 0 && /GC_UNSAFE/.test(out + err)) return refused()
      if (code !== 0) throw new Error(`repo gc exited ${code}: ${out}\n${err}`)
      return (JSON.parse(out) as GcPass).chunksDeleted
    }
    // ...and the same GC given the slow mark phase the naive one gets below, in the same staggered passes.
    const slowPass = async (location: string): Promise<number> => {
      const store = await openStore(location, env)
      try {
        const repo = await Repository.open(withSlowMark(store, MARK_MS))
        return (await collectGarbage(repo, { safetyMarginMs: 0 })).chunksDeleted
      } catch (error) {
        if ((error as { code?: unknown }).code === 'GC_UNSAFE') return refused()
        throw error
      } finally {
        await store.close?.()
      }
    }
    let refusals = 0
    const refused = (): number => (refusals++, 0)
    const outcome = await scenario('protocol', [cliPass, ...staggered(slowPass)])
    const { location, points } = outcome
    expect(outcome.badRestores).toEqual([])
    // Once every backup is over, GC takes every chunk retention left behind: what stays is referenced.
    const last = await strataProcess(gcArgs(location), env)
    expect(last.code, last.err).toBe(0)
    const check = JSON.parse(await cli(['repo', 'check', '--repo', location, '--json'])) as { chunks: number }
    const verify = JSON.parse(await cli(['repo', 'verify', '--repo', location, '--json'])) as Verified
    expect(verify).toMatchObject({ chunks: check.chunks, checked: check.chunks, bad: [], flaky: [] })
    const kept = await pointsIn(location)
    const survivors = points.filter((p) => kept.has(p.pointId))
    // Retention keeps the last point of each VM; each restores to the disk it was taken from, again.
    expect(survivors.map((p) => p.vm).sort()).toEqual(['a1', 'b1'])
    expect(kept.size).toBe(2)
    for (const point of survivors) expect(await restoredDigest(location, point)).toBe(point.digest)
    console.info(
      `two hosts: ${points.length} points committed, each restored exactly; ${check.chunks} chunks at the end; ` +
        `${outcome.gcPasses} GC passes (${outcome.gcPassesOf[0]} by the CLI) during the backups deleted ` +
        `${outcome.gcDeleted} chunks [${outcome.gcDeletedBy.join(' ')}], ${outcome.gcDeletedDuring} by passes that ended ` +
        `before the backups did (${refusals} refused: GC_UNSAFE); ${outcome.retried} runs took a second attempt; ` +
        `${outcome.seconds.toFixed(1)} s of backups`,
    )
    expect(outcome.gcPassesOf[0]).toBeGreaterThan(1)
    expect(outcome.gcDeletedDuring).toBeGreaterThan(0) // GC did delete while the hosts were storing
  }, 300_000)

  it('loses chunks with a GC that does not announce its sweeps (the test can fail)', async () => {
    // Staggered passes, each marking MARK_MS before it sweeps: one of them marks soon after retention
    // made a point's chunks garbage, and sweeps after the next backup found them.
    const pass = async (location: string): Promise<number> => {
      const store = await openStore(location, env)
      try {
        return await naiveGcPass(await Repository.open(store), MARK_MS)
      } finally {
        await store.close?.()
      }
    }
    const outcome = await scenario('naive', staggered(pass))
    const store = await openStore(outcome.location, env)
    const check = await checkRepository(await Repository.open(store))
    await store.close?.()
    const missing = check.problems.filter((p) => /missing|not found|absent/i.test(p.problem))
    console.info(
      `without announcements: ${outcome.gcPasses} passes deleted ${outcome.gcDeleted} chunks ` +
        `[${outcome.gcDeletedBy.join(' ')}]; ` +
        `${outcome.badRestores.length} of ${outcome.points.length} points did not restore; ` +
        `check: ${check.problems.length} problems, first ${JSON.stringify(check.problems[0])}`,
    )
    expect(outcome.badRestores.length + missing.length).toBeGreaterThan(0)
  }, 300_000)

  type GcPassOf = (location: string) => Promise<number>

  /** SLOW_PASSES loops of `pass`, started MARK_MS / SLOW_PASSES apart. */
  function staggered(pass: GcPassOf): GcPassOf[] {
    return Array.from({ length: SLOW_PASSES }, (_, i) => {
      let first = true
      return async (location) => {
        if (first) await new Promise((r) => setTimeout(r, (i * MARK_MS) / SLOW_PASSES))
        first = false
        return pass(location)
      }
    })
  }

  /** A fresh repository, both hosts' runs at once, and each of `gcLoops` called over and over until they end. */
  async function scenario(name: string, gcLoops: GcPassOf[]): Promise<Outcome> {
    const started = Date.now()
    const location = s3Location(s3, await createTestBucket(s3), name)
    const store = await openStore(location, env)
    await Repository.create(store, { chunkSize: CHUNK })
    await store.close?.()
    const [a, b] = pools.pools as [LabPool, LabPool]
    const host = (n: string, lab: LabPool): Host => ({
      name: n,
      lab,
      vms: [`${n}1`],
      jobFile: scratch.path(`${name}-${n}.json`),
      dataDir: scratch.path(`${name}-${n}`),
    })
    const hosts = [host('a', a), host('b', b)]
    for (const h of hosts) await writeHostJob(h, location, 1)
    const state = {
      done: false,
      retried: 0,
      gcPasses: 0,
      gcDeleted: 0,
      gcDeletedDuring: 0,
      gcDeletedBy: [] as number[],
      gcPassesOf: gcLoops.map(() => 0),
    }
    const badRestores: string[] = []
    const runs = Promise.all(
      hosts.map(async (h) => {
        const points: PointRecord[] = []
        for (let run = 0; run < RUNS; run++) {
          const result = await backupOnce(h, env, run % GENERATIONS, run, CHUNK)
          if (result.attempts > 1) state.retried++
          for (const point of result.points) {
            const digest = await restoredDigest(location, point).catch((e: unknown) => String(e))
            if (digest !== point.digest) badRestores.push(`${point.pointId}: ${digest}`)
          }
          points.push(...result.points)
        }
        return points
      }),
    ).finally(() => (state.done = true))
    const gcLoop = async (pass: GcPassOf, loop: number): Promise<void> => {
      while (!state.done) {
        // Not `state.gcDeleted += await pass()`: that reads the total before the pass, and the loops run
        // at once, so a pass ending later would write back a stale total and lose the others' deletes.
        const deleted = await pass(location)
        state.gcDeleted += deleted
        // A pass that ended before the last backup did deleted while the hosts were storing.
        if (!state.done) state.gcDeletedDuring += deleted
        state.gcDeletedBy.push(deleted)
        state.gcPasses++
        state.gcPassesOf[loop]!++
      }
    }
    const [perHost] = await Promise.all([runs, ...gcLoops.map(gcLoop)])
    const seconds = (Date.now() - started) / 1000
    return { location, points: perHost.flat(), badRestores, ...state, seconds }
  }

  async function restoredDigest(location: string, point: PointRecord): Promise<string> {
    const out = scratch.path(`${point.pointId}-${++restores}.raw`)
    await cli(['restore', 'disk', '--repo', location, '--point', point.pointId, '--disk', '0', '--to', out])
    return sha256(await readFile(out))
  }

  async function pointsIn(location: string): Promise<Set<string>> {
    const listed = JSON.parse(await cli(['repo', 'snapshots', '--repo', location, '--json'])) as {
      pointId: string
    }[]
    return new Set(listed.map((p) => p.pointId))
  }

  async function cli(argv: string[]): Promise<string> {
    let out = ''
    let err = ''
    const sink = (write: (s: string) => void) => ({ write: (s: string) => (write(s), true) }) as never
    const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) })
    if (code !== 0) throw new Error(`strata ${argv.join(' ')} exited with ${code}: ${out}\n${err}`)
    return out
  }
})
