// `strata vhd ...` end to end through main(), with qemu-img as the independent judge.
import { execFile } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { runCli } from '../testing/cli-harness.js'

const exec = promisify(execFile)

const strata = (...argv: string[]) => runCli(argv)

describe('strata vhd', () => {
  let scratch: Scratch
  let disk: Buffer
  beforeAll(async () => {
    scratch = await scratchDir('strata-cli-vhd-')
    disk = Buffer.alloc(9 * 1024 * 1024)
    disk.write('hello', 3 * 1024 * 1024)
    disk.fill(0x5a, 8 * 1024 * 1024)
    await writeFile(scratch.path('disk.raw'), disk)
  })
  afterAll(() => scratch[Symbol.asyncDispose]())

  it('from-raw, info and to-raw round-trip, as qemu-img confirms', async () => {
    const raw = scratch.path('disk.raw')
    const vhd = scratch.path('disk.vhd')
    const made = await strata('vhd', 'from-raw', raw, vhd, '--json')
    expect(made.code).toBe(0)
    expect(JSON.parse(made.out)).toMatchObject({ blocks: 2, blockCount: 5, size: disk.length })
    await exec(requireBinary('qemu-img'), ['compare', '-f', 'raw', '-F', 'vpc', raw, vhd])

    const info = await strata('vhd', 'info', vhd, '--json')
    expect(JSON.parse(info.out)).toMatchObject({
      type: 'dynamic',
      size: disk.length,
      blockSize: 2 * 1024 * 1024,
      allocatedBlocks: 2,
      checksums: { footer: true, footerCopy: true, header: true, footersMatch: true },
    })
    expect((await strata('vhd', 'info', vhd)).out).toContain('2 of 5 allocated')

    const back = scratch.path('back.raw')
    expect((await strata('vhd', 'to-raw', vhd, back)).code).toBe(0)
    expect((await readFile(back)).equals(disk)).toBe(true)
  })

  it('makes a differencing VHD with --parent and reads the chain back', async () => {
    const changed = Buffer.from(disk)
    changed.write('changed', 6 * 1024 * 1024)
    await writeFile(scratch.path('new.raw'), changed)
    const child = scratch.path('delta.vhd')
    const made = await strata(
      'vhd',
      'from-raw',
      scratch.path('new.raw'),
      child,
      '--parent',
      scratch.path('disk.vhd'),
    )
    expect(made.out).toMatch(/differencing over disk\.vhd/)
    const info = JSON.parse((await strata('vhd', 'info', child, '--json')).out) as {
      allocatedBlocks: number
      parent: { name: string }
    }
    expect(info).toMatchObject({ type: 'differencing', allocatedBlocks: 1, parent: { name: 'disk.vhd' } })
    expect((await strata('vhd', 'to-raw', child, scratch.path('delta.raw'))).code).toBe(0)
    expect((await readFile(scratch.path('delta.raw'))).equals(changed)).toBe(true)
  })

  it('fails with one line naming the error code, and writes no output', async () => {
    const before = await readdir(scratch.dir)
    const { code, err } = await strata('vhd', 'to-raw', scratch.path('disk.raw'), scratch.path('nope.raw'))
    expect(code).toBe(1)
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err).toContain('[VHD_BAD_COOKIE]')
    expect(await readdir(scratch.dir)).toEqual(before)
  })
})
