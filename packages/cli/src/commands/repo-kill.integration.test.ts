// A backup-image killed with SIGKILL at random points, many times: the repository must still pass check,
// and every restore point committed before (or by a process killed right after committing) must restore
// exactly. Each backup runs in its own process (tsx on the sources), as the CLI would.
import { spawn } from 'node:child_process'
import { createHash, randomBytes, randomInt } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { repoInit } from './repo-init.js'
import { repoCheck } from './repo-check.js'
import { repoGc } from './repo-gc.js'
import { repoRestoreImage } from './repo-restore-image.js'
import { repoSnapshots } from './repo-snapshots.js'
import { makeImage, runRepoCommand } from '../testing/repo-commands.js'

const CHUNK = 512 * 1024
const CHUNKS = 48
const BUDGET_MS = 40_000
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const COMMAND = fileURLToPath(new URL('./repo-backup-image.ts', import.meta.url))
const CHILD = `
import { parseArgs } from 'node:util'
import { repoBackupImage as c } from ${JSON.stringify(COMMAND)}
const { values, positionals } = parseArgs({ args: process.argv.slice(1), options: c.options, allowPositionals: true })
const ctx = { stdout: process.stdout, stderr: process.stderr, signal: new AbortController().signal, json: true }
process.stdout.write(JSON.stringify(await c.run({ values, positionals }, ctx)))
`

interface Attempt {
  hashes: string[]
  point?: string
}

let scratch: Scratch
beforeAll(async () => (scratch = await scratchDir()))
afterAll(() => scratch[Symbol.asyncDispose]())

function chunkHashes(image: Buffer): string[] {
  const out: string[] = []
  for (let o = 0; o < image.length; o += CHUNK)
    out.push(
      createHash('sha256')
        .update(image.subarray(o, o + CHUNK))
        .digest('hex'),
    )
  return out
}

/** Runs backup-image in a child; kills it after `killAfterMs` unless undefined. */
function backupProcess(
  args: string[],
  killAfterMs: number | undefined,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=strata-source', '--import', 'tsx', '--input-type=module', '-e', CHILD, '--', ...args],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`backup-image exited ${code}: ${err}`))
      else resolve({ code, out })
    })
  })
}

describe('a killed backup-image', () => {
  it('leaves a repository that passes check and whose points restore exactly', async () => {
    const repo = scratch.path('repo')
    const file = scratch.path('disk.img')
    await runRepoCommand(repoInit, [], { repo, 'chunk-size': '512k', compression: '1' })
    let image = makeImage(CHUNKS, CHUNK, 0)
    await writeFile(file, image)
    const attempts: Attempt[] = []
    let lastPoint: string | undefined
    let dirty = new Set<number>()
    let durationMs = 3000
    let kills = 0
    const start = Date.now()
    while (Date.now() - start < BUDGET_MS || lastPoint === undefined) {
      if (lastPoint !== undefined) {
        image = Buffer.from(image)
        for (let k = 0; k < 3; k++) {
          const i = randomInt(CHUNKS)
          ;(randomInt(4) === 0 ? Buffer.alloc(CHUNK) : randomBytes(CHUNK)).copy(image, i * CHUNK)
          dirty.add(i)
        }
        await writeFile(file, image)
      }
      const incremental = lastPoint !== undefined && randomInt(2) === 0
      const args = [file, '--repo', repo, '--vm', 'vm']
      if (incremental) args.push('--base', lastPoint!, '--changed', [...dirty].join(',') || '0')
      const kill = randomInt(5) === 0 ? undefined : randomInt(Math.ceil(durationMs * 1.3))
      const attempt: Attempt = { hashes: chunkHashes(image) }
      attempts.push(attempt)
      const began = Date.now()
      const { code, out } = await backupProcess(args, kill)
      if (code === 0) {
        attempt.point = (JSON.parse(out) as { point: string }).point
        lastPoint = attempt.point
        dirty = new Set()
        durationMs = Date.now() - began
      } else kills++
    }
    expect(kills).toBeGreaterThan(5)

    const verifyAll = async (): Promise<void> => {
      expect((await runRepoCommand(repoCheck, [], { repo })).result.ok).toBe(true)
      const points = (await runRepoCommand(repoSnapshots, [], { repo })).result.map((p) => p.ref)
      for (const a of attempts.filter((x) => x.point !== undefined)) expect(points).toContain(a.point)
      for (const point of points) {
        const out = scratch.path('restored.img')
        await runRepoCommand(repoRestoreImage, [point, out], { repo })
        const hashes = chunkHashes(await readFile(out))
        // Points of killed processes that committed just before dying match one of the attempted images.
        const known = attempts.find((a) => a.point === point)
        if (known) expect(hashes).toEqual(known.hashes)
        else expect(attempts.some((a) => a.hashes.join() === hashes.join())).toBe(true)
      }
    }
    await verifyAll()
    await runRepoCommand(repoGc, [], { repo, margin: '0' })
    await verifyAll()
  }, 120_000)
})
