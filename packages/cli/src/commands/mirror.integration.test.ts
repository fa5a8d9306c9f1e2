// `strata mirror run` on a lab job's repository: plain → encrypted → encrypted with another key, each
// target restoring disks identical to the VM's (qemu-img compare); a second run copies only the new
// chunks; a mirror killed with SIGKILL midway completes on the next run without copying again what
// arrived.
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseJob, restoreDiskToFile, runJobInWorker, type RunResult } from '@strata/core/engine'
import { Repository, listPoints, readManifest } from '@strata/core/repository'
import { silentTask } from '@strata/core'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { runCli } from '../testing/cli-harness.js'

const CHUNK = 512 * 1024
const FAST = { N: 1024, r: 8, p: 1 }
const BIN = fileURLToPath(new URL('../../bin/strata.js', import.meta.url))
const PASS_B = 'mirror target b passphrase'
const PASS_C = 'mirror target c passphrase'
const PASS_D = 'mirror target d passphrase'

interface MirrorJson {
  copied: { ref: string; copied: number; skipped: number }[]
  alreadyThere: number
  copiedChunks: number
  skippedChunks: number
}

describe('strata mirror run', () => {
  let lab: LabPool
  let scratch: Scratch
  let vdi: string
  const repo = (name: string): string => scratch.path(`repo-${name}`)

  beforeAll(async () => {
    requireBinary('qemu-img')
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-mirror-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'web-a', power: 'Running', tags: [], disks: [48] }],
    })
    vdi = lab.guest.disks(lab.ref('VM', 'web-a'))[0]!
    for (let i = 0; i < 40; i++) await lab.guest.write(vdi, (i + 4) * CHUNK, randomBytes(CHUNK))
    await Repository.create(new LocalStore(repo('a')), { chunkSize: CHUNK })
    for (const [name, pass] of [
      ['b', PASS_B],
      ['c', PASS_C],
      ['d', PASS_D],
    ] as const) {
      await Repository.create(new LocalStore(repo(name)), {
        chunkSize: CHUNK,
        passphrase: new TextEncoder().encode(pass),
        weakKdfForTests: FAST,
      })
    }
  })
  afterAll(async () => {
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
    delete process.env.STRATA_PASSPHRASE
    delete process.env.STRATA_TO_PASSPHRASE
  })

  const backup = async (): Promise<RunResult> => {
    // The worker inherits the environment: the mirror's passphrases must not reach the plain repository.
    setEnv('STRATA_PASSPHRASE', undefined)
    setEnv('STRATA_TO_PASSPHRASE', undefined)
    const job = parseJob({
      id: 'mirrored',
      pools: [{ id: 'lab', url: lab.url, user: lab.user, fingerprint: lab.fingerprint }],
      repositories: [{ name: 'a', location: repo('a') }],
      vms: ['web-a'],
    })
    const result = await runJobInWorker({
      job,
      dataDir: scratch.path('data'),
      signal: AbortSignal.timeout(120_000),
      env: { STRATA_XAPI_PASSWORD: lab.password },
    })
    expect(result.status, JSON.stringify(result.vms)).toBe('success')
    return result
  }

  const mirror = async (
    from: string,
    to: string,
    fromPass?: string,
    toPass?: string,
  ): Promise<MirrorJson> => {
    setEnv('STRATA_PASSPHRASE', fromPass)
    setEnv('STRATA_TO_PASSPHRASE', toPass)
    const out = await runCli(['mirror', 'run', '--from', repo(from), '--to', repo(to), '--json'])
    expect(out.err).not.toContain('"code"')
    expect(out.code, out.out + out.err).toBe(0)
    return JSON.parse(out.out) as MirrorJson
  }

  /** The newest point of `name` restored to a raw file, compared with the VM's disk by qemu-img. */
  const expectIdentical = async (name: string, pass?: string): Promise<void> => {
    const r = await Repository.open(new LocalStore(repo(name)), {
      passphrase: pass === undefined ? undefined : new TextEncoder().encode(pass),
    })
    const points = await listPoints(r)
    const file = scratch.path(`restored-${name}.raw`)
    await restoreDiskToFile(silentTask(), {
      repository: r,
      pointId: points.at(-1)!.ref,
      disk: 0,
      path: file,
      format: 'raw',
      overwrite: true,
    })
    const vm = scratch.path('vm.raw')
    await writeFile(vm, await lab.readDisk(vdi))
    // qemu-img compare exits 0 only for identical images (1: they differ); run() rejects on any other.
    const said = await promisify(execFile)('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', file, vm])
    expect(said.stdout).toMatch(/Images are identical/)
  }

  it('mirrors plain → encrypted → encrypted (another key); every copy restores the VM disk', async () => {
    await backup()
    const first = await mirror('a', 'b', undefined, PASS_B)
    expect(first.copied).toHaveLength(1)
    expect(first.copiedChunks).toBeGreaterThanOrEqual(40)
    await expectIdentical('b', PASS_B)
    const second = await mirror('b', 'c', PASS_B, PASS_C)
    expect(second.copiedChunks).toBe(first.copiedChunks)
    await expectIdentical('c', PASS_C)
  })

  it('copies only the new chunks on the next run', async () => {
    for (const i of [1, 7, 30]) await lab.guest.write(vdi, i * CHUNK + 4096, randomBytes(4096))
    await backup()
    const a = await Repository.open(new LocalStore(repo('a')))
    const manifest = await readManifest(a, (await listPoints(a)).at(-1)!)
    const next = await mirror('a', 'b', undefined, PASS_B)
    expect(next.alreadyThere).toBe(1)
    expect(next.copied).toHaveLength(1)
    expect(next.copiedChunks).toBe(manifest.disks[0]!.newChunks)
    expect(next.copiedChunks).toBe(3)
    await expectIdentical('b', PASS_B)
    const again = await mirror('a', 'b', undefined, PASS_B)
    expect([again.copied.length, again.alreadyThere]).toEqual([0, 2])
  })

  it('completes a mirror killed with SIGKILL without copying again what arrived', async () => {
    const chunksDir = repo('d') + '/chunks'
    const arrived = await killedMirror(repo('a'), repo('d'), chunksDir)
    expect(arrived).toBeGreaterThan(0)
    const d = await Repository.open(new LocalStore(repo('d')), {
      passphrase: new TextEncoder().encode(PASS_D),
    })
    expect(await listPoints(d)).toEqual([]) // killed before the first manifest
    const done = await mirror('a', 'd', undefined, PASS_D)
    const total = await countChunks(chunksDir)
    expect(done.copiedChunks).toBe(total - arrived)
    expect(done.copiedChunks).toBeLessThan(total)
    await expectIdentical('d', PASS_D)
  })

  it('refuses a wrong or missing target secret naming STRATA_TO_PASSPHRASE, and missing options', async () => {
    setEnv('STRATA_PASSPHRASE', undefined)
    setEnv('STRATA_TO_PASSPHRASE', 'not the right one at all')
    const wrong = await runCli(['mirror', 'run', '--from', repo('a'), '--to', repo('b')])
    expect(wrong.code).toBe(1)
    expect(wrong.err).toContain('STRATA_TO_PASSPHRASE')
    expect(wrong.err).not.toContain('not the right one')
    setEnv('STRATA_TO_PASSPHRASE', undefined)
    const missing = await runCli(['mirror', 'run', '--from', repo('a'), '--to', repo('b')])
    expect(missing.code).toBe(1)
    expect(missing.err).toContain('STRATA_TO_PASSPHRASE')
    const usage = await runCli(['mirror', 'run', '--from', repo('a')])
    expect(usage.code).toBe(2)
    expect(usage.err).toContain('--to')
  })
})

function setEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name]
  else process.env[name] = value
}

async function countChunks(dir: string): Promise<number> {
  let n = 0
  for (const sub of await readdir(dir).catch(() => [])) n += (await readdir(`${dir}/${sub}`)).length
  return n
}

/** Runs the CLI's mirror in a process of its own and kills it once some chunks have arrived. */
async function killedMirror(from: string, to: string, chunksDir: string): Promise<number> {
  const child = spawn(
    process.execPath,
    [BIN, 'mirror', 'run', '--from', from, '--to', to, '--concurrency', '1'],
    {
      env: { ...process.env, STRATA_PASSPHRASE: '', STRATA_TO_PASSPHRASE: PASS_D },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const exited = new Promise<string | null>((resolve) =>
    child.on('close', (_code, signal) => resolve(signal)),
  )
  const deadline = Date.now() + 60_000
  while ((await countChunks(chunksDir)) < 8 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5))
  child.kill('SIGKILL')
  expect(await exited).toBe('SIGKILL')
  return countChunks(chunksDir)
}
