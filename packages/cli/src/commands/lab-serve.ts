import { LabPool, type VersionProfile } from '@strata/lab'
import { UsageError, type Command } from '../command.js'
import { dataDirArg, dataDirOptions } from './data-dir-option.js'

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
  dataDir: string | undefined
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

export const labServe: Command<LabServeResult> = {
  path: ['lab', 'serve'],
  usage:
    'lab serve [--port N] [--data-dir DIR] [--hosts 1|2] [--profile xcp-ng-8.3|xcp-ng-8.2|xenserver-8] [--password PW] [--http] [--disk-mbps N]',
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
