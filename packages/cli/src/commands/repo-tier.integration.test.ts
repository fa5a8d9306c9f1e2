// The cold tier through the CLI: `repo tier add` and `repo tier move` against a local cold path and
// against radosgw (hot and cold in S3). After a move, hot holds only chunks young points reference, every
// point restores byte-identical and `repo check` passes. Then the mover is killed with SIGKILL at seeded
// random moments, many times, each in its own process (tsx on the sources, as the CLI would run): after
// each kill `repo check` passes and every point restores exactly. STRATA_TIER_KILL_SEED replays a run.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Semaphore } from '@strata/core/shared'
import { Repository } from '@strata/core/repository'
import { openStore, type ObjectStore } from '@strata/core/storage'
import {
  createTestBucket,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import { repoCheck } from './repo-check.js'
import { repoGc } from './repo-gc.js'
import { repoRestoreImage } from './repo-restore-image.js'
import { repoTierAdd } from './repo-tier-add.js'
import { repoTierMove } from './repo-tier-move.js'
import { repoVerify } from './repo-verify.js'
import { runRepoCommand } from '../testing/repo-commands.js'
import {
  DAY_MS,
  seededRandom,
  sha256,
  storedChunkIds,
  writePoint,
  youngChunkIds,
} from '../testing/tier-fixture.js'

const CHUNK = 512 * 1024
const CHUNKS = 16
const RESTORES_AT_ONCE = 4
const SEED = Number(process.env.STRATA_TIER_KILL_SEED ?? 2024)
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const COMMAND = fileURLToPath(new URL('./repo-tier-move.ts', import.meta.url))
const CHILD = `
import { parseArgs } from 'node:util'
import { repoTierMove as c } from ${JSON.stringify(COMMAND)}
const { values, positionals } = parseArgs({ args: process.argv.slice(1), options: c.options, allowPositionals: true })
const ctx = { stdout: process.stdout, stderr: process.stderr, signal: new AbortController().signal, json: true }
process.stderr.write('start\\n')
process.stdout.write(JSON.stringify(await c.run({ values, positionals }, ctx)))
`

let scratch: Scratch
beforeAll(async () => (scratch = await scratchDir('strata-tier-')))
afterAll(() => scratch[Symbol.asyncDispose]())

interface Setup {
  readonly hot: string
  readonly cold: string
}

/** Points written so far, with the hash of each one's image. */
type Expected = Map<string, string>

async function openRepo(location: string): Promise<{ repo: Repository; store: ObjectStore }> {
  const store = await openStore(location, process.env)
  return { repo: await Repository.open(store), store }
}

/** An old point, and a young one sharing half of its chunks (they must stay hot). */
async function addPoints(setup: Setup, expected: Expected, round: number): Promise<void> {
  const { repo, store } = await openRepo(setup.hot)
  try {
    const old = randomBytes(CHUNKS * CHUNK + 777)
    const young = Buffer.concat([old.subarray(0, (CHUNKS / 2) * CHUNK), randomBytes((CHUNKS / 2) * CHUNK)])
    expected.set(await writePoint(repo, old, new Date(Date.now() - 40 * DAY_MS + round * 1000)), sha256(old))
    expected.set(await writePoint(repo, young, new Date()), sha256(young))
  } finally {
    await store.close?.()
  }
}

async function restoresExactly(setup: Setup, expected: Expected): Promise<void> {
  // All read-only: the check and a few restores at a time overlap the store's latency (radosgw's above all).
  const limit = new Semaphore(RESTORES_AT_ONCE)
  const restores = [...expected].map(([point, hash], i) =>
    limit.run(async () => {
      const out = scratch.path(`restored-${i}.img`)
      await runRepoCommand(repoRestoreImage, [point, out], { repo: setup.hot, 'no-sync': true })
      expect(sha256(await readFile(out)), point).toBe(hash)
      await rm(out)
    }),
  )
  const [check] = await Promise.all([runRepoCommand(repoCheck, [], { repo: setup.hot }), ...restores])
  expect(check.result.ok).toBe(true)
}

async function coldIds(setup: Setup): Promise<Set<string>> {
  const store = await openStore(setup.cold, process.env)
  try {
    return await storedChunkIds(store)
  } finally {
    await store.close?.()
  }
}

async function allOldMoved(setup: Setup): Promise<boolean> {
  const { repo, store } = await openRepo(setup.hot)
  try {
    const young = await youngChunkIds(repo, Date.now() - 30 * DAY_MS)
    return [...(await storedChunkIds(store))].every((id) => young.has(id))
  } finally {
    await store.close?.()
  }
}

/** Hot holds exactly the chunks young points reference; cold holds the rest. */
async function onlyYoungHot(setup: Setup): Promise<void> {
  const { repo, store } = await openRepo(setup.hot)
  try {
    const young = await youngChunkIds(repo, Date.now() - 30 * DAY_MS)
    expect(await storedChunkIds(store)).toEqual(young)
  } finally {
    await store.close?.()
  }
}

/**
 * When to kill: `ms` after the child starts, or once the cold store holds `coldAtLeast` chunks (then
 * `ms` later): the second lands inside the copies wherever the process spends its time otherwise.
 */
interface Kill {
  readonly ms: number
  readonly coldAtLeast?: { readonly count: number; readonly poll: () => Promise<number> }
}

function moverProcess(repo: string, kill: Kill | undefined): Promise<{ killed: boolean; ms: number }> {
  return new Promise((resolve, reject) => {
    const args = ['--repo', repo, '--margin', '0s']
    const child = spawn(
      process.execPath,
      ['--conditions=strata-source', '--import', 'tsx', '--input-type=module', '-e', CHILD, '--', ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let err = ''
    let started = 0
    let timer: NodeJS.Timeout | undefined
    let closed = false
    const killLater = (): void => void (timer = setTimeout(() => child.kill('SIGKILL'), kill?.ms ?? 0))
    const watch = async (): Promise<void> => {
      const until = kill!.coldAtLeast!
      while (!closed && (await until.poll()) < until.count) await new Promise((r) => setTimeout(r, 10))
      if (!closed) killLater()
    }
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
      if (started !== 0 || !err.includes('start\n')) return
      started = Date.now()
      if (kill === undefined) return
      if (kill.coldAtLeast === undefined) killLater()
      else watch().catch(reject)
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      closed = true
      clearTimeout(timer)
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`tier move exited ${code}: ${err}`))
      else resolve({ killed: signal === 'SIGKILL', ms: Date.now() - (started || Date.now()) })
    })
  })
}

function tierSuite(name: string, rounds: number, setupOf: () => Promise<Setup>): void {
  describe(`the cold tier (${name})`, () => {
    let setup: Setup
    beforeAll(async () => {
      setup = await setupOf()
      const store = await openStore(setup.hot, process.env)
      await Repository.create(store, { chunkSize: CHUNK })
      await store.close?.()
    })

    it('refuses bad arguments with clear errors', async () => {
      await expect(
        runRepoCommand(repoTierAdd, [], { repo: setup.hot, 'older-than': '30d' }),
      ).rejects.toMatchObject({
        code: 'USAGE',
      })
      for (const bad of ['30', '30 days', '-1d', ''])
        await expect(
          runRepoCommand(repoTierAdd, [], { repo: setup.hot, cold: setup.cold, 'older-than': bad }),
        ).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('--older-than') })
      await expect(runRepoCommand(repoTierMove, [], { repo: setup.hot })).rejects.toMatchObject({
        code: 'NO_TIER',
      })
      await expect(
        runRepoCommand(repoTierAdd, [], { repo: setup.hot, cold: setup.hot, 'older-than': '30d' }),
      ).rejects.toMatchObject({ code: 'TIER_IN_USE' })
    })

    it('moves old chunks; survives a mover killed at random moments; gc keeps what points need', async () => {
      const added = await runRepoCommand(repoTierAdd, [], {
        repo: setup.hot,
        cold: setup.cold,
        'older-than': '30d',
      })
      expect(added.result.olderThanSeconds).toBe(30 * 86_400)
      await expect(
        runRepoCommand(repoTierAdd, [], { repo: setup.hot, cold: setup.cold, 'older-than': '7d' }),
      ).rejects.toMatchObject({ code: 'TIER_EXISTS' })

      const expected: Expected = new Map()
      await addPoints(setup, expected, 0)
      const first = await runRepoCommand(repoTierMove, [], { repo: setup.hot, margin: '0s' })
      expect(first.result.moved).toBe(CHUNKS / 2 + 1)
      await onlyYoungHot(setup)
      await restoresExactly(setup, expected)
      const out = scratch.path('cold.img')
      const oldPoint = [...expected.keys()][0]!
      const restored = await runRepoCommand(repoRestoreImage, [oldPoint, out], { repo: setup.hot })
      expect(restored.result.tiers?.coldBytes).toBeGreaterThan(0)
      expect(restored.result.tiers?.hotBytes).toBeGreaterThan(0)
      const verified = await runRepoCommand(repoVerify, [], { repo: setup.hot })
      expect(verified.result.cold).toMatchObject({ checked: CHUNKS / 2 + 1, bad: [] })

      const random = seededRandom(SEED)
      let estimateMs = 1500
      let kills = 0
      let midMove = 0
      for (let round = 1; round <= rounds; round++) {
        await addPoints(setup, expected, round)
        const coldBefore = (await coldIds(setup)).size
        // Round 1 runs to the end: how long a move takes here (open, marks, copies) bounds the timed kills.
        // Every other kill waits for the copies to begin, then a random few chunks and milliseconds.
        const poll = async (): Promise<number> => (await coldIds(setup)).size
        const kill: Kill | undefined =
          round === 1 || random() < 0.1
            ? undefined
            : round % 2 === 0
              ? { ms: Math.floor(random() * estimateMs) }
              : {
                  ms: Math.floor(random() * 30),
                  coldAtLeast: { count: coldBefore + 1 + Math.floor(random() * 6), poll },
                }
        const run = await moverProcess(setup.hot, kill)
        if (run.killed) kills++
        else estimateMs = Math.max(200, run.ms)
        // Killed with some chunks copied and others not: the kill landed inside the move itself.
        if (run.killed && (await coldIds(setup)).size > coldBefore && !(await allOldMoved(setup))) midMove++
        // Each kill, wherever it landed, must leave every point restorable and the repository sound.
        await restoresExactly(setup, expected)
      }
      expect(kills, `seed ${SEED}`).toBeGreaterThanOrEqual(3)
      console.info(`tier move (${name}), seed ${SEED}: ${kills} kills, ${midMove} inside the move`)

      await runRepoCommand(repoTierMove, [], { repo: setup.hot, margin: '0s' })
      await onlyYoungHot(setup)
      await restoresExactly(setup, expected)
      const gc = await runRepoCommand(repoGc, [], { repo: setup.hot, margin: '0' })
      expect(gc.result.cold?.chunks).toBeGreaterThan(0)
      expect(repoGc.format?.(gc.result)).toMatch(/cold tier: deleted \d+ of \d+ chunks/)
      await restoresExactly(setup, expected)
    }, 300_000)
  })
}

tierSuite('local cold path', 8, async () => ({ hot: scratch.path('hot'), cold: scratch.path('cold') }))

tierSuite('radosgw', 6, async () => {
  const s3 = useS3Server()
  Object.assign(process.env, s3Env(s3)) // the mover's child process inherits the keys
  const bucket = await createTestBucket(s3)
  return { hot: s3Location(s3, bucket, 'hot'), cold: s3Location(s3, await createTestBucket(s3), 'cold') }
})
