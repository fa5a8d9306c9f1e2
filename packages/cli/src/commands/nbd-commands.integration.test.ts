// `strata nbd serve` and `strata nbd copy` end to end through main(), with nbdinfo and nbdcopy as judges.
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  makeTlsFixture,
  requireBinary,
  scratchDir,
  type Scratch,
  type TlsFixture,
} from '@strata/core/testing'
import { startCli } from '../testing/cli-harness.js'

const exec = promisify(execFile)

const strata = startCli

/** Starts `strata nbd serve ...`; resolves the printed URI and a stop function. */
async function serve(argv: string[]) {
  const controller = new AbortController()
  const run = strata(['nbd', 'serve', ...argv], controller.signal)
  for (let i = 0; i < 200 && !run.io.out.includes('\n') && !run.io.err.includes('\n'); i++) {
    await new Promise((r) => setTimeout(r, 20))
  }
  const uri = (run.io.out || run.io.err).trim()
  if (uri === '') throw new Error('strata nbd serve printed no URI')
  return { uri, stop: async () => (controller.abort(), run.done) }
}

describe('strata nbd', () => {
  let scratch: Scratch
  let tls: TlsFixture
  let disk: Buffer
  beforeAll(async () => {
    for (const tool of ['nbdinfo', 'nbdcopy', 'openssl']) requireBinary(tool)
    scratch = await scratchDir('strata-cli-nbd-')
    tls = await makeTlsFixture(scratch.path('tls'))
    disk = Buffer.alloc(6 * 1024 * 1024)
    for (let i = 0; i < 2 * 1024 * 1024; i++) disk[i] = (i * 7) & 0xff
    disk.fill(0x33, 5 * 1024 * 1024)
    await writeFile(scratch.path('disk.raw'), disk)
  })
  afterAll(() => scratch[Symbol.asyncDispose]())

  it('serve prints a URI that nbdinfo reads; copy copies it, skipping zeros', async () => {
    const server = await serve([
      scratch.path('disk.raw'),
      '--socket',
      scratch.path('a.sock'),
      '--name',
      'disk',
    ])
    try {
      expect(server.uri).toBe(`nbd+unix:///disk?socket=${scratch.path('a.sock')}`)
      const { stdout } = await exec(requireBinary('nbdinfo'), ['--size', server.uri])
      expect(Number(stdout.trim())).toBe(disk.length)
      // An existing, larger file full of 0xff: skipped zero ranges must not keep its old bytes.
      await writeFile(scratch.path('out.raw'), Buffer.alloc(8 * 1024 * 1024, 0xff))
      const copy = strata(['nbd', 'copy', server.uri, scratch.path('out.raw'), '--json'])
      expect(await copy.done).toBe(0)
      expect(JSON.parse(copy.io.out)).toMatchObject({ size: disk.length, bytesRead: 3 * 1024 * 1024 })
      expect((await readFile(scratch.path('out.raw'))).equals(disk)).toBe(true)
      const toNull = strata(['nbd', 'copy', server.uri, '/dev/null', '--json'])
      expect(await toNull.done).toBe(0)
      expect(JSON.parse(toNull.io.out)).toMatchObject({ size: disk.length, bytesRead: 3 * 1024 * 1024 })
      // null: as nbdcopy spells it: read and discard, no file at all.
      const discard = strata(['nbd', 'copy', server.uri, 'null:', '--request-size', '65536', '--json'])
      expect(await discard.done).toBe(0)
      expect(JSON.parse(discard.io.out)).toMatchObject({ output: 'null:', bytesRead: 3 * 1024 * 1024 })
      await expect(readFile('null:')).rejects.toMatchObject({ code: 'ENOENT' })
    } finally {
      expect(await server.stop()).toBe(0)
    }
  })

  it('serves and copies over TLS with a pinned certificate', async () => {
    const server = await serve([
      scratch.path('disk.raw'), '--port', '0', '--profile', 'xapi',
      '--tls-cert', tls.server.certPath, '--tls-key', tls.server.keyPath,
    ]) // prettier-ignore
    try {
      expect(server.uri).toMatch(/^nbds:\/\/127\.0\.0\.1:\d+\/$/)
      await exec(requireBinary('nbdcopy'), [
        `${server.uri}?tls-certificates=${tls.clientDir}`,
        scratch.path('lib.raw'),
      ])
      expect((await readFile(scratch.path('lib.raw'))).equals(disk)).toBe(true)
      const copy = strata([
        'nbd',
        'copy',
        server.uri,
        scratch.path('tls.raw'),
        '--tls-cert',
        tls.server.certPath,
        '--tls-name',
        'localhost',
      ])
      expect(await copy.done).toBe(0)
      expect(copy.io.out).toContain(`copied ${disk.length} bytes`)
      expect((await readFile(scratch.path('tls.raw'))).equals(disk)).toBe(true)
      const wrongPin = strata([
        'nbd',
        'copy',
        server.uri,
        scratch.path('x.raw'),
        '--tls-cert',
        tls.client.certPath,
      ])
      expect(await wrongPin.done).toBe(1)
      expect(wrongPin.io.err).toContain('[NBD_TLS]')
    } finally {
      await server.stop()
    }
  })
})
