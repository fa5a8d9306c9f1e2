// The production install: systemd's own tools judge the unit (systemd-analyze verify: no error and no
// warning, with and without the NAS drop-in; systemd-analyze security: the exposure it scores), the
// install script is run twice into a scratch root (idempotent, modes, the user, the unit enabled), and the
// packaged config passes `strata server --check-config` through the installed command.
import { execFile } from 'node:child_process'
import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'

const exec = promisify(execFile)
const repo = fileURLToPath(new URL('..', import.meta.url))
const unitText = readFileSync(`${repo}/packaging/strata.service`, 'utf8')
const CLI = `${repo}packages/cli/bin/strata.js`

/** Runs a command; its exit code and output, whatever the code. */
async function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

describe('the systemd unit and its install', () => {
  let scratch: Scratch
  beforeAll(async () => {
    requireBinary('systemd-analyze')
    requireBinary('useradd')
    requireBinary('systemctl')
    scratch = await scratchDir('strata-install-service-')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  /** The unit in `dir` with its commands pointing at this checkout's CLI (verify wants them to exist). */
  async function unitIn(dir: string, text = unitText): Promise<string> {
    await mkdir(dir, { recursive: true })
    const path = `${dir}/strata.service`
    await writeFile(path, text.replaceAll('/usr/local/bin/strata', CLI))
    return path
  }

  it('passes systemd-analyze verify without a warning, alone and with the NAS drop-in', async () => {
    expect(unitText).toContain('ExecStart=/usr/local/bin/strata server --config /etc/strata/config.toml')
    const alone = await run('systemd-analyze', ['verify', await unitIn(scratch.path('alone'))])
    expect(alone).toMatchObject({ code: 0, stderr: '' })
    const withNas = await unitIn(scratch.path('nas'))
    await mkdir(scratch.path('nas/strata.service.d'))
    await copyFile(`${repo}/packaging/nas-mounts.conf`, scratch.path('nas/strata.service.d/nas-mounts.conf'))
    expect(await run('systemd-analyze', ['verify', withNas])).toMatchObject({ code: 0, stderr: '' })
  })

  it('would catch a mistyped setting or a missing command (the check can fail)', async () => {
    const typo = await unitIn(scratch.path('typo'), unitText.replace('ProtectSystem=', 'ProtectSystm='))
    expect((await run('systemd-analyze', ['verify', typo])).stderr).toMatch(/Unknown key 'ProtectSystm'/)
    const missing = await unitIn(scratch.path('missing'))
    await writeFile(missing, unitText) // /usr/local/bin/strata is not installed on this machine
    const verdict = await run('systemd-analyze', ['verify', missing])
    expect(verdict.code).not.toBe(0)
    expect(verdict.stderr).toMatch(/is not executable/)
  })

  it('is hardened as systemd-analyze security scores it, with no capability', async () => {
    const unit = await unitIn(scratch.path('security'))
    const scored = await run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', unit])
    expect(scored.code, scored.stdout).toBe(0) // overall exposure 2.0 or less ("OK"; 10 is "UNSAFE")
    const passed = new Set([...scored.stdout.matchAll(/^✓ (\S+)/gm)].map((m) => m[1]))
    for (const setting of [
      'NoNewPrivileges=',
      'ProtectSystem=',
      'ProtectHome=',
      'PrivateTmp=',
      'PrivateDevices=',
      'User=/DynamicUser=',
      'AmbientCapabilities=',
      'CapabilityBoundingSet=~CAP_SYS_ADMIN',
      'CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)',
      'RestrictAddressFamilies=~AF_PACKET',
      'SystemCallFilter=~@mount',
    ])
      expect(passed.has(setting), setting).toBe(true)
  })

  async function fakeRoot(name: string): Promise<string> {
    const root = scratch.path(name)
    await mkdir(`${root}/etc`, { recursive: true })
    await writeFile(`${root}/etc/passwd`, 'root:x:0:0:root:/root:/bin/bash\n')
    await writeFile(`${root}/etc/group`, 'root:x:0:\n')
    await writeFile(`${root}/etc/shadow`, 'root:*:19000:0:99999:7:::\n', { mode: 0o600 })
    await writeFile(`${root}/etc/gshadow`, 'root:*::\n', { mode: 0o600 })
    return root
  }

  it('installs the user, the directories, the config and the enabled unit, and a second run changes nothing', async () => {
    const root = await fakeRoot('root')
    const script = `${repo}/scripts/install-service.sh`
    const first = await run(script, ['--root', root, '--nas-mounts'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toContain('user strata: created')
    const passwd = await readFile(`${root}/etc/passwd`, 'utf8')
    const entry = /^strata:x:(\d+):(\d+):[^:]*:\/var\/lib\/strata:\/usr\/sbin\/nologin$/m.exec(passwd)
    expect(entry, passwd).not.toBeNull()
    const data = statSync(`${root}/var/lib/strata`)
    expect([data.mode & 0o777, data.uid, data.gid]).toEqual([0o700, Number(entry![1]), Number(entry![2])])
    const etc = statSync(`${root}/etc/strata`)
    expect([etc.mode & 0o777, etc.uid, etc.gid]).toEqual([0o750, 0, Number(entry![2])])
    expect(statSync(`${root}/etc/strata/config.toml`).mode & 0o777).toBe(0o640)
    expect(readFileSync(`${root}/etc/systemd/system/strata.service`, 'utf8')).toBe(unitText)
    expect(readlinkSync(`${root}/etc/systemd/system/multi-user.target.wants/strata.service`)).toBe(
      '/etc/systemd/system/strata.service',
    )
    expect(lstatSync(`${root}/etc/systemd/system/strata.service.d/nas-mounts.conf`).isFile()).toBe(true)
    expect(readlinkSync(`${root}/usr/local/bin/strata`)).toBe(`${repo}packages/cli/bin/strata.js`)

    await writeFile(`${root}/etc/strata/config.toml`, '# the admin edited it\n')
    await chmod(`${root}/var/lib/strata`, 0o755) // drifted: the second run repairs it
    const second = await run(script, ['--root', root])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toContain('user strata: present')
    expect(second.stdout).toContain('/etc/strata/config.toml: kept')
    expect(await readFile(`${root}/etc/passwd`, 'utf8')).toBe(passwd)
    expect(await readFile(`${root}/etc/strata/config.toml`, 'utf8')).toBe('# the admin edited it\n')
    expect(statSync(`${root}/var/lib/strata`).mode & 0o777).toBe(0o700)
    expect(() => lstatSync(`${root}/etc/systemd/system/strata.service.d`)).toThrow(/ENOENT/)
  })

  it('refuses to run as anything but root, or with an unknown argument', async () => {
    const script = `${repo}/scripts/install-service.sh`
    expect(await run(script, ['--bogus'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown argument '--bogus'/),
    })
    const asNobody = await run('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      script,
      '--root',
      scratch.path('x'),
    ])
    expect(asNobody.code).not.toBe(0)
  })

  it('the packaged config passes --check-config through the installed command', async () => {
    const root = await fakeRoot('check')
    expect((await run(`${repo}/scripts/install-service.sh`, ['--root', root])).code).toBe(0)
    const config = (await readFile(`${repo}/packaging/config.toml`, 'utf8')).replace(
      'dataDir = "/var/lib/strata"',
      `dataDir = "${root}/var/lib/strata"`,
    )
    await writeFile(`${root}/etc/strata/config.toml`, config)
    // As the installed unit runs it, but as root here: the data directory is given to root for the check.
    await exec('chown', ['0:0', `${root}/var/lib/strata`])
    const check = await run(`${root}/usr/local/bin/strata`, [
      'server',
      '--check-config',
      '--config',
      `${root}/etc/strata/config.toml`,
    ])
    expect(check.code, check.stdout + check.stderr).toBe(0)
    expect(check.stdout).toMatch(/^ok\s+listen\s+HTTPS on 0\.0\.0\.0 port 8470/m)
    expect(check.stdout).toMatch(/^ok\s+tls\s+a self-signed certificate is made at the first start/m)
  })
})
