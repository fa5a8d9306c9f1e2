import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readCachedVerdict, writeCachedVerdict } from './accelerator-cache.js'
import { applianceKernel, probeKvm } from './accelerator.js'

// The probe itself, proven under TCG (KVM is what it judges, and may be broken on the machine running
// this): the appliance's kernel booted with no root reaches its panic and exits; a guest that never
// runs is killed at the timeout; a kernel qemu cannot load is a failure with qemu's words.
describe('the KVM probe', () => {
  const dirs: string[] = []
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

  it('finds the kernel the appliance boots', async () => {
    expect(await applianceKernel()).toMatch(/vmlinuz/)
  })

  it('says yes when the kernel reaches its panic', { timeout: 90_000 }, async () => {
    const kernel = await applianceKernel()
    expect(await probeKvm({ kernel, accel: 'tcg', timeoutMs: 80_000 })).toEqual({ kind: 'tcg' })
  })

  it(
    'says no, with the reason, when the guest gives no sign of life in time',
    { timeout: 30_000 },
    async () => {
      const kernel = await applianceKernel()
      const verdict = await probeKvm({ kernel, accel: 'tcg', timeoutMs: 2000, extraArgs: ['-S'] })
      expect(verdict).toEqual({ kind: 'tcg', reason: 'a guest kernel under KVM gave no sign of life in 2 s' })
    },
  )

  it('says no, with qemu’s words, when qemu cannot boot the kernel', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-probe-'))
    dirs.push(dir)
    const verdict = await probeKvm({ kernel: join(dir, 'gone'), accel: 'tcg', timeoutMs: 20_000 })
    expect(verdict.kind).toBe('tcg')
    expect(verdict.reason).toMatch(/^qemu with KVM exited 1: .*kernel/i)
  })

  it('keeps a verdict for the next processes of this boot, and only for this boot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-probe-'))
    dirs.push(dir)
    const path = join(dir, 'verdict.json')
    expect(await readCachedVerdict(path)).toBeUndefined()
    await writeCachedVerdict({ kind: 'tcg', reason: 'the test said so' }, path)
    expect(await readCachedVerdict(path)).toEqual({
      kind: 'tcg',
      reason: 'the test said so (probed earlier in this boot)',
    })
    expect(await readCachedVerdict(path, Date.now() + 2 * 3_600_000)).toBeUndefined()
    await writeFile(path, (await readFile(path, 'utf8')).replace(/"boot":"[^"]*"/, '"boot":"another"'))
    expect(await readCachedVerdict(path)).toBeUndefined()
    await writeCachedVerdict({ kind: 'kvm' }, path)
    expect(await readCachedVerdict(path)).toEqual({ kind: 'kvm' })
  })
})
