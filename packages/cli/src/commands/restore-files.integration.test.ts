// `strata restore files` end to end through main(): a whole-disk ext4 (no partition table) made with
// mke2fs -d, backed up with repo backup-image, browsed and copied out as a zip; a disk of random bytes
// refused as holding no filesystem. Each command boots its own appliance (about 20 s under TCG).
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ext4Image, requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { runCli } from '../testing/cli-harness.js'
import { runRepoCommand } from '../testing/repo-commands.js'
import { repoInit } from './repo-init.js'
import { repoBackupImage } from './repo-backup-image.js'

const exec = promisify(execFile)
const BOOT = 300_000
let scratch: Scratch
let repo: string
const points: Record<string, string> = {}
const random = randomBytes(1024 * 1024 + 7)

async function backup(image: string): Promise<string> {
  return (await runRepoCommand(repoBackupImage, [image], { repo, vm: 'files' })).result.point as string
}

beforeAll(async () => {
  for (const tool of ['mke2fs', 'guestfish', 'unzip']) requireBinary(tool)
  scratch = await scratchDir('strata-cli-files-')
  repo = scratch.path('repo')
  process.env.STRATA_PASSPHRASE = 'files to restore'
  await runRepoCommand(repoInit, [], { repo, encrypt: true, 'chunk-size': '512k' })
  const whole = await ext4Image(
    scratch,
    { 'docs/report.txt': 'quarterly figures\n', 'data.bin': random },
    { name: 'whole.raw', label: 'whole' },
  )
  await writeFile(scratch.path('noise.raw'), randomBytes(4 * 1024 * 1024))
  points.whole = await backup(whole)
  points.noise = await backup(scratch.path('noise.raw'))
}, 120_000)
afterAll(async () => {
  delete process.env.STRATA_PASSPHRASE
  await scratch?.[Symbol.asyncDispose]()
})

const files = (command: string, point: string, ...rest: string[]) =>
  runCli(['restore', 'files', command, '--repo', repo, '--point', point, '--disk', '0', ...rest])

describe('strata restore files', () => {
  it(
    'ls lists a whole-disk filesystem, chosen without --fs, a page at a time',
    { timeout: BOOT },
    async () => {
      const { code, out, err } = await files('ls', points.whole!, '/', '--limit', '2', '--json')
      expect(code, err).toBe(0)
      expect(err).toMatch(/TCG|KVM/) // says which accelerator the appliance got when it is not KVM
      const page = JSON.parse(out) as {
        fs: string
        total: number
        nextOffset: number
        entries: { name: string }[]
      }
      expect(page).toMatchObject({ fs: '/dev/sda', total: 3, nextOffset: 2 })
      expect(page.entries.map((e) => e.name)).toEqual(['data.bin', 'docs'])
    },
  )

  it('get streams files and folders into a zip', { timeout: BOOT }, async () => {
    const zip = scratch.path('out.zip')
    const { code, out, err } = await files('get', points.whole!, '/docs', '/data.bin', '--to', zip)
    expect(code, err).toBe(0)
    expect(out).toMatch(/out\.zip \(zip\): 2 files/)
    await exec('unzip', ['-q', zip, '-d', scratch.path('unzipped')])
    expect(await readFile(scratch.path('unzipped/docs/report.txt'), 'utf8')).toBe('quarterly figures\n')
    expect((await readFile(scratch.path('unzipped/data.bin'))).equals(random)).toBe(true)
  })

  it('list refuses a disk that holds no filesystem', { timeout: BOOT }, async () => {
    const { code, err } = await files('list', points.noise!)
    expect(code).toBe(1)
    expect(err).toContain('[NO_FILESYSTEM]')
  })

  it('refuses bad arguments before starting anything', async () => {
    expect((await files('get', points.whole!, '/docs')).code).toBe(2) // no --to
    expect((await runCli(['restore', 'files', 'ls', '--repo', repo])).err).toContain('--point')
    const unknown = await files('ls', 'no-such-point')
    expect(unknown.code).toBe(1)
    expect(unknown.err).toContain('[POINT_NOT_FOUND]')
  })
})
