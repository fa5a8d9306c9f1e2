import { isIP } from 'node:net'
import { LabPool, type LabOptions, type VersionProfile } from '@strata/lab'
import { UsageError, type Command } from '../command.js'
import { dataDirArg, dataDirOptions } from './data-dir-option.js'
import { parseCount, parseSize } from './repo-common.js'

interface LabServeResult {
  url: string
  user: string
  password: string
  hosts: string[]
  nbdPort: number | undefined
  /** SHA-256 fingerprint of the master's certificate: what a client pins (--fingerprint). */
  fingerprint: string
  /** PEM of the master's certificate (its HTTPS and NBD). */
  certificate: string
  /** Guest VMs (not templates, snapshots or dom0) by name. */
  vms: string[]
  profile: VersionProfile
  /** The pool's name_label. */
  name: string
  dataDir: string | undefined
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

export const labServe: Command<LabServeResult> = {
  path: ['lab', 'serve'],
  usage:
    'lab serve [--port N] [--data-dir DIR] [--hosts 1|2] [--address IP[,IP]] [--name NAME] [--profile xcp-ng-8.3|xcp-ng-8.2|xenserver-8] [--password PW] [--http] [--disk-mbps N] [--vms N [--disk-size SIZE]] [--boot-delay MS]',
  summary:
    'Run a lab XCP-ng pool (XAPI over HTTPS, or plain HTTP with --http; transfers; NBD) with seed VMs until interrupted',
  positionals: 0,
  options: {
    port: { type: 'string' },
    ...dataDirOptions,
    hosts: { type: 'string' },
    profile: { type: 'string' },
    password: { type: 'string' },
    http: { type: 'boolean' },
    'disk-mbps': { type: 'string' },
    address: { type: 'string' },
    name: { type: 'string' },
    vms: { type: 'string' },
    'disk-size': { type: 'string' },
    'boot-delay': { type: 'string' },
  },
  async run(args, { signal, stdout, stderr, json }) {
    const { values } = args
    const port = values.port === undefined ? 0 : Number(values.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be a TCP port')
    const hosts = values.hosts === undefined ? 1 : Number(values.hosts)
    if (hosts !== 1 && hosts !== 2) throw new UsageError('--hosts must be 1 or 2')
    const profile = (str(values.profile) ?? 'xcp-ng-8.3') as VersionProfile
    if (!['xcp-ng-8.3', 'xcp-ng-8.2', 'xenserver-8'].includes(profile))
      throw new UsageError('unknown --profile')
    const dataDir = dataDirArg(args, (line) => stderr.write(`strata: warning: ${line}\n`))
    const https = values.http !== true
    const diskMBps = values['disk-mbps'] === undefined ? undefined : Number(values['disk-mbps'])
    if (diskMBps !== undefined && !(diskMBps > 0))
      throw new UsageError('--disk-mbps must be a positive number')
    const lab = await LabPool.start({
      port,
      dataDir,
      hosts,
      profile,
      password: str(values.password),
      https,
      diskMBps,
      ...poolShape(values, hosts),
    })
    const info: LabServeResult = {
      url: lab.url,
      user: lab.user,
      password: lab.password,
      hosts: lab.hosts.map((h) => h.url),
      nbdPort: lab.nbd?.port,
      fingerprint: lab.fingerprint,
      certificate: lab.certificate,
      vms: lab.vmNames(),
      profile,
      name: String(lab.state.db.find('pool', () => true)[0]?.[1].name_label),
      dataDir,
    }
    // Printed at once: the lab is useful only while it runs. With --json, one JSON line on stdout now
    // (and the same object again when it stops).
    if (json) stdout.write(`${JSON.stringify(info)}\n`)
    else
      stdout.write(
        `lab pool at ${info.url}\n` +
          (https
            ? `certificate fingerprint (SHA-256): ${info.fingerprint}\n`
            : 'plain HTTP: clients need --insecure-http\n') +
          `user: ${info.user}\npassword: ${info.password}\nVMs: ${info.vms.join(', ')}\n`,
      )
    stderr.write('press Ctrl-C to stop\n')
    try {
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve()
        signal.addEventListener('abort', () => resolve(), { once: true })
      })
    } finally {
      await lab.close()
    }
    return info
  },
  format: (r) =>
    `stopped the lab pool at ${r.url}${r.dataDir === undefined ? '' : ` (state saved in ${r.dataDir})`}`,
}

/** --address, --name, --vms/--disk-size and --boot-delay as lab options. */
function poolShape(values: Record<string, unknown>, hosts: number): LabOptions {
  const out: LabOptions = {}
  const address = str(values.address)
  if (address !== undefined) {
    const list = address.split(',').map((a) => a.trim())
    if (list.length !== hosts || !list.every((a) => isIP(a) === 4))
      throw new UsageError(`--address needs ${hosts} IPv4 address${hosts === 1 ? '' : 'es'} (one per host)`)
    out.addresses = list
  }
  const name = str(values.name)
  if (name !== undefined) {
    if (!/^[\w .-]{1,64}$/.test(name))
      throw new UsageError('--name: letters, digits, spaces, dots and dashes, at most 64')
    out.name = name
  }
  const count = parseCount(values.vms, '--vms')
  const diskSize = str(values['disk-size'])
  if (count === undefined && diskSize !== undefined) throw new UsageError('--disk-size goes with --vms N')
  if (count !== undefined) {
    if (count < 1 || count > 10_000) throw new UsageError('--vms: between 1 and 10000')
    const bytes = parseSize(diskSize ?? '64MiB', '--disk-size')
    if (bytes < 64 * 1024 || bytes % 512 !== 0)
      throw new UsageError('--disk-size: at least 64 KiB, in 512-byte sectors')
    out.vms = { count, diskSize: bytes, power: 'Running' }
  }
  const boot = parseCount(values['boot-delay'], '--boot-delay')
  if (boot !== undefined) {
    if (boot > 600_000) throw new UsageError('--boot-delay: at most 600000 ms')
    out.bootDelayMs = boot
  }
  return out
}
