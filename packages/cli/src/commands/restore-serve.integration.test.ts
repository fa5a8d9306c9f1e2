// `strata restore serve` end to end through main(): a restore point of an encrypted repository served
// over NBD and read by nbdcopy, qemu-img and nbdinfo --map; writes through --writable seen by the writer
// and never by the repository; bad inputs refused with their codes.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTlsFixture, requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { startCli } from '../testing/cli-harness.js'
import { makeImage, runRepoCommand } from '../testing/repo-commands.js'
import { repoInit } from './repo-init.js'
import { repoBackupImage } from './repo-backup-image.js'
import { repoCheck } from './repo-check.js'
import { repoRestoreImage } from './repo-restore-image.js'

const exec = promisify(execFile)
const CHUNK = 512 * 1024
const CHUNKS = 24

let scratch: Scratch
let repo: string
let image: Buffer
let point: string

/** Starts `strata restore serve ...`; resolves the printed URI and a stop function (exit code, output). */
async function serve(argv: string[]) {
  const controller = new AbortController()
  const run = startCli(['restore', 'serve', '--repo', repo, ...argv], controller.signal)
  // The URI is the first line of stdout, or of stderr with --json.
  const printed = (): string => (argv.includes('--json') ? run.io.err : run.io.out).split('\n')[0]!
  for (let i = 0; i < 500 && !(argv.includes('--json') ? run.io.err : run.io.out).includes('\n'); i++) {
    if (await Promise.race([run.done.then(() => true), new Promise((r) => setTimeout(r, 20, false))])) break
  }
  const uri = printed().trim()
  if (uri === '') throw new Error(`strata restore serve printed no URI: ${run.io.err}`)
  return {
    uri,
    stop: async () => {
      controller.abort()
      return { code: await run.done, ...run.io }
    },
  }
}

/** A hash of every file of the repository directory, by name: equal before and after means untouched. */
async function repoDigest(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(repo, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    out[path] = createHash('sha256')
      .update(await readFile(path))
      .digest('hex')
  }
  return out
}

beforeAll(async () => {
  for (const tool of ['nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io', 'openssl']) requireBinary(tool)
  scratch = await scratchDir('strata-restore-serve-')
  repo = scratch.path('repo')
  process.env.STRATA_PASSPHRASE = 'serve me please'
  await runRepoCommand(repoInit, [], { repo, encrypt: true, 'chunk-size': '512k', compression: '1' })
  // Chunks 0, 3, 6, ... are zeros, then a short tail: a multiple of 512 bytes, as qemu's NBD client
  // rounds an export's size down to that (disks always are).
  image = makeImage(CHUNKS, CHUNK, 25 * 512)
  await writeFile(scratch.path('disk.raw'), image)
  point = (await runRepoCommand(repoBackupImage, [scratch.path('disk.raw')], { repo, vm: 'web' })).result
    .point as string
})
afterAll(async () => {
  delete process.env.STRATA_PASSPHRASE
  await scratch[Symbol.asyncDispose]()
})

describe('strata restore serve', () => {
  it('serves the point to nbdcopy (4 connections), qemu-img convert and nbdinfo --map', async () => {
    const server = await serve(['--point', point, '--disk', '0', '--socket', scratch.path('a.sock')])
    try {
      expect(server.uri).toBe(`nbd+unix:///?socket=${scratch.path('a.sock')}`)
      await exec(requireBinary('nbdcopy'), ['--connections=4', server.uri, scratch.path('copy.raw')])
      expect((await readFile(scratch.path('copy.raw'))).equals(image)).toBe(true)
      await exec(requireBinary('qemu-img'), [
        'convert',
        '-f',
        'raw',
        '-O',
        'raw',
        server.uri,
        scratch.path('q.raw'),
      ])
      expect((await readFile(scratch.path('q.raw'))).equals(image)).toBe(true)
      const { stdout } = await exec(requireBinary('nbdinfo'), ['--map', '--json', server.uri])
      const map = JSON.parse(stdout) as { offset: number; length: number; type: number }[]
      const expected = Array.from({ length: CHUNKS + 1 }, (_, i) => ({
        offset: i * CHUNK,
        length: Math.min(CHUNK, image.length - i * CHUNK),
        type: i < CHUNKS && i % 3 === 0 ? 3 : 0, // hole,zero for the zero chunks
      }))
      expect(merge(map.map(({ offset, length, type }) => ({ offset, length, type })))).toEqual(
        merge(expected),
      )
    } finally {
      expect((await server.stop()).code).toBe(0)
    }
  })

  it('serves over TCP with TLS, to a client that trusts the certificate', async () => {
    const tls = await makeTlsFixture(scratch.path('tls'))
    const server = await serve([
      '--point', point, '--port', '0', '--tls-cert', tls.server.certPath, '--tls-key', tls.server.keyPath,
    ]) // prettier-ignore
    try {
      expect(server.uri).toMatch(/^nbds:\/\/127\.0\.0\.1:\d+\/$/)
      await exec(requireBinary('nbdcopy'), [
        `${server.uri}?tls-certificates=${tls.clientDir}`,
        scratch.path('tls.raw'),
      ])
      expect((await readFile(scratch.path('tls.raw'))).equals(image)).toBe(true)
      await expect(
        exec(requireBinary('nbdinfo'), ['--size', server.uri.replace('nbds', 'nbd')]),
      ).rejects.toThrow()
    } finally {
      await server.stop()
    }
  })

  it('lets a --writable client see its writes while the repository stays untouched', async () => {
    const before = await repoDigest()
    const server = await serve(['--point', point, '--socket', scratch.path('w.sock'), '--writable', '--json'])
    try {
      await exec(requireBinary('qemu-io'), [
        '-f', 'raw', '-c', `write -P 0xab ${CHUNK - 4096} 8192`, '-c', `write -P 0xcd ${3 * CHUNK} 65536`, server.uri,
      ]) // prettier-ignore
      await exec(requireBinary('nbdcopy'), [server.uri, scratch.path('written.raw')])
      const expected = Buffer.from(image)
      expected.fill(0xab, CHUNK - 4096, CHUNK + 4096)
      expected.fill(0xcd, 3 * CHUNK, 3 * CHUNK + 65536)
      expect((await readFile(scratch.path('written.raw'))).equals(expected)).toBe(true)
    } finally {
      const stopped = await server.stop()
      expect(stopped.code).toBe(0)
      expect(JSON.parse(stopped.out.split('\n').filter(Boolean).at(-1)!)).toMatchObject({
        writable: true,
        overlayBytes: 3 * 65536, // granules of 64 KiB: two for the first write, one for the second
      })
    }
    expect(await repoDigest()).toEqual(before)
    expect((await runRepoCommand(repoCheck, [], { repo })).result.ok).toBe(true)
    await runRepoCommand(repoRestoreImage, [point, scratch.path('restored.raw')], { repo })
    expect((await readFile(scratch.path('restored.raw'))).equals(image)).toBe(true)
    // And a new server reads the point as it was.
    const again = await serve(['--point', point, '--socket', scratch.path('r.sock')])
    try {
      await exec(requireBinary('nbdcopy'), [again.uri, scratch.path('again.raw')])
      expect((await readFile(scratch.path('again.raw'))).equals(image)).toBe(true)
    } finally {
      await again.stop()
    }
  })

  it.each([
    [['--point', 'no-such-point'], 'POINT_NOT_FOUND', /no restore point 'no-such-point'/],
    [['--point', '@', '--disk', '3'], 'INVALID_ARGUMENT', /has no disk 3/],
    [['--point', '@', '--disk', 'x'], 'USAGE', /--disk/],
    [['--point', '@', '--port', '1', '--socket', '/tmp/x'], 'USAGE', /exclude each other/],
    [['--point', '@', '--tls-cert', '/tmp/cert.pem'], 'USAGE', /go together/],
  ])('refuses %j with %s', async (argv, code, message) => {
    const args = argv.map((a) => (a === '@' ? point : a))
    const run = startCli([
      'restore',
      'serve',
      '--repo',
      repo,
      '--socket',
      scratch.path('bad.sock'),
      ...args,
      '--json',
    ])
    expect(await run.done).toBe(code === 'USAGE' ? 2 : 1)
    const { error } = JSON.parse(run.io.out) as { error: { code: string; message: string } }
    expect(error.code).toBe(code)
    expect(error.message).toMatch(message)
  })

  it('refuses a wrong passphrase', async () => {
    process.env.STRATA_PASSPHRASE = 'not the one'
    try {
      const run = startCli([
        'restore',
        'serve',
        '--repo',
        repo,
        '--point',
        point,
        '--socket',
        scratch.path('p.sock'),
      ])
      expect(await run.done).toBe(1)
      expect(run.io.err).toContain('[WRONG_PASSPHRASE]')
    } finally {
      process.env.STRATA_PASSPHRASE = 'serve me please'
    }
  })
})

/** Adjacent extents of one type joined, so that maps compare whatever their granularity. */
function merge(map: { offset: number; length: number; type: number }[]) {
  const out: { offset: number; length: number; type: number }[] = []
  for (const e of map) {
    const last = out.at(-1)
    if (last !== undefined && last.type === e.type && last.offset + last.length === e.offset)
      last.length += e.length
    else out.push({ ...e })
  }
  return out
}
