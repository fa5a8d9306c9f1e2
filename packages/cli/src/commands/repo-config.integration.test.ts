// The CLI and a repository's configuration: an encrypted repository whose config is edited to
// "encryption":"none" is refused by the repo commands (REPOSITORY_CONFIG_CHANGED while its key slots are
// there, REPOSITORY_NOT_ENCRYPTED for the passphrase once they are gone) and by a backup job, which
// recorded the repository at its first run (REPOSITORY_CONFIG_CHANGED). Short passphrases need --force.
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { readRun, runDirs } from '@strata/core/engine'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { runCli } from '../testing/cli-harness.js'

const PASSPHRASE = 'correct horse battery'
let scratch: Scratch

beforeAll(async () => {
  scratch = await scratchDir('strata-cli-repo-config-')
})
afterAll(async () => {
  await scratch[Symbol.asyncDispose]()
})
afterEach(() => {
  delete process.env.STRATA_PASSPHRASE
  delete process.env.STRATA_NEW_PASSPHRASE
})

async function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): Promise<void> {
  const config = JSON.parse(await readFile(join(dir, 'config'), 'utf8')) as Record<string, unknown>
  edit(config)
  await writeFile(join(dir, 'config'), JSON.stringify(config))
}

async function initEncrypted(name: string): Promise<string> {
  const repo = scratch.path(name)
  process.env.STRATA_PASSPHRASE = PASSPHRASE
  expect((await runCli(['repo', 'init', '--repo', repo, '--encrypt', '--chunk-size', '512k'])).code).toBe(0)
  return repo
}

describe('strata repo and passphrases', () => {
  it('refuses a passphrase shorter than 10 characters unless --force, for init and key add', async () => {
    const repo = scratch.path('short')
    process.env.STRATA_PASSPHRASE = 'too short'
    const refused = await runCli(['repo', 'init', '--repo', repo, '--encrypt'])
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/\[WEAK_PASSPHRASE\] .*at least 10.*--force/)
    expect((await runCli(['repo', 'init', '--repo', repo, '--encrypt', '--force'])).code).toBe(0)
    process.env.STRATA_NEW_PASSPHRASE = 'tiny'
    const add = await runCli(['repo', 'key', 'add', '--repo', repo])
    expect(add.err).toMatch(/\[WEAK_PASSPHRASE\]/)
    expect((await runCli(['repo', 'key', 'add', '--repo', repo, '--force'])).code).toBe(0)
  })

  it('refuses a passphrase given for a plain repository', async () => {
    const repo = scratch.path('plain')
    expect((await runCli(['repo', 'init', '--repo', repo])).code).toBe(0)
    process.env.STRATA_PASSPHRASE = PASSPHRASE
    const refused = await runCli(['repo', 'snapshots', '--repo', repo])
    expect(refused.err).toMatch(/\[REPOSITORY_NOT_ENCRYPTED\]/)
  })

  it('refuses an encrypted repository edited to "encryption":"none"', async () => {
    const repo = await initEncrypted('edited')
    expect((await runCli(['repo', 'snapshots', '--repo', repo])).code).toBe(0)
    await editConfig(repo, (c) => (c.encryption = 'none'))
    for (const passphrase of [PASSPHRASE, undefined]) {
      if (passphrase === undefined) delete process.env.STRATA_PASSPHRASE
      else process.env.STRATA_PASSPHRASE = passphrase
      const refused = await runCli(['repo', 'snapshots', '--repo', repo])
      expect(refused.code).toBe(1)
      expect(refused.err).toMatch(
        /\[REPOSITORY_CONFIG_CHANGED\] .*says it is not encrypted, yet it holds 'keys\//,
      )
    }
    await rm(join(repo, 'keys'), { recursive: true })
    await rm(join(repo, 'seals'), { recursive: true })
    process.env.STRATA_PASSPHRASE = PASSPHRASE
    expect((await runCli(['repo', 'snapshots', '--repo', repo])).err).toMatch(/\[REPOSITORY_NOT_ENCRYPTED\]/)
  })
})

describe('strata backup run and a repository changed since the job last ran', () => {
  let lab: LabPool
  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'app', power: 'Halted', tags: [], disks: [4] }],
    })
  })
  afterAll(async () => {
    await lab?.close()
  })

  it.each([
    ['key slots left', false],
    ['key slots and seal removed', true],
  ])(
    'refuses an encrypted repository edited to "encryption":"none" (%s)',
    async (name, strip) => {
      const repo = await initEncrypted(`job-${strip}`)
      const dataDir = scratch.path(`data-${strip}`)
      process.env.STRATA_XAPI_PASSWORD = lab.password
      const pool = ['--pool', lab.url, '--fingerprint', lab.fingerprint, '--user', 'root']
      const args = ['backup', 'run', ...pool, '--vm', 'app', '--repo', repo]
      const run = async () => {
        const { out } = await runCli([...args, '--data-dir', dataDir, '--json'])
        return JSON.parse(out.trim().split('\n').at(-1)!) as { runId: string; status: string }
      }
      expect((await run()).status).toBe('success')
      await editConfig(repo, (c) => (c.encryption = 'none'))
      if (strip) {
        await rm(join(repo, 'keys'), { recursive: true })
        await rm(join(repo, 'seals'), { recursive: true })
      }
      const second = await run()
      expect(second.status, name).toBe('failure')
      const root = await readRun(runDirs(dataDir).runs, second.runId)
      expect(root.children.find((c) => c.name === 'open repository')?.error).toMatchObject({
        code: 'REPOSITORY_CONFIG_CHANGED',
      })
    },
    120_000,
  )
})
