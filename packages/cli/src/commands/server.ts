// `strata server`: runs the server (HTTP API, web UI, scheduler) until interrupted. With --demo it also
// starts a lab pool and configures it with a local repository and a demo job (the README's first command).
// With --check-config it only judges the configuration (docs/install.md) and exits.
import { join } from 'node:path'
import { LabPool } from '@strata/lab'
import {
  checkConfig,
  SELF_SIGNED,
  setupDemo,
  startServer,
  type ConfigCheck,
  type RunningServer,
} from '@strata/server'
import type { Command } from '../command.js'
import { dataDirArg, dataDirOptions } from './data-dir-option.js'
import {
  formatCheck,
  serverOptions,
  serverOverrides,
  underJournal,
  writeOncePassword,
} from './server-options.js'

interface ServerResult {
  url: string
  dataDir: string
  login?: { username: string; password: string }
  /** Under systemd: the owner-only file holding the generated admin password (never printed there). */
  loginFile?: string
  /** When the server serves HTTPS: its certificate's SHA-256 fingerprint, for clients to pin. */
  tlsFingerprint?: string
  lab?: string
  /** The lab's certificate fingerprint, pinned in the demo pool. */
  labFingerprint?: string
}

type Result = ServerResult | ConfigCheck

export const serverCommand: Command<Result> = {
  path: ['server'],
  usage:
    'server [--config FILE] [--port N] [--host ADDR] [--data-dir DIR] [--tls self-signed] [--insecure-http] [--demo] [--check-config]',
  summary:
    'Run the Strata server (API, web UI, scheduler) until interrupted; --demo adds a lab pool and a demo job; ' +
    '--check-config judges the configuration and exits',
  positionals: 0,
  choices: { tls: [SELF_SIGNED] },
  options: {
    ...serverOptions,
    ...dataDirOptions,
    demo: { type: 'boolean' },
    'check-config': { type: 'boolean' },
  },
  async run(args, ctx) {
    const dataDir = dataDirArg(args, (line) => ctx.stderr.write(`strata: warning: ${line}\n`))
    const overrides = serverOverrides(args, dataDir)
    if (args.values['check-config'] === true) return checkConfig(overrides)
    const lab = args.values.demo === true ? await LabPool.start({ diskMBps: 64 }) : undefined
    try {
      const server = await startServer({ ...overrides, echo: (line) => ctx.stderr.write(`${line}\n`) })
      try {
        if (lab !== undefined)
          await setupDemo(
            server.context,
            {
              pool: {
                url: lab.url,
                username: lab.user,
                password: lab.password,
                fingerprint: lab.fingerprint,
              },
              repositoryPath: join(server.config.dataDir, 'demo-repository'),
            },
            ctx.signal,
          )
        const info = serverInfo(server, lab)
        ctx.stdout.write(ctx.json ? `${JSON.stringify(info)}\n` : startText(info))
        ctx.stderr.write('press Ctrl-C to stop\n')
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve()
          ctx.signal.addEventListener('abort', () => resolve(), { once: true })
        })
        return info
      } finally {
        await server.close()
      }
    } finally {
      await lab?.close()
    }
  },
  format: (r) => ('findings' in r ? formatCheck(r) : `stopped the server at ${r.url}`),
  exitCode: (r) => ('findings' in r && !r.ok ? 1 : 0),
}

function serverInfo(server: RunningServer, lab: LabPool | undefined): ServerResult {
  const generated = server.generatedAdminPassword
  const password = generated ?? server.config.adminPassword
  // Under systemd, stdout is the journal: no password is printed there, a generated one goes to a file.
  const journal = underJournal()
  const loginFile =
    journal && generated !== undefined ? writeOncePassword(server.config.dataDir, generated) : undefined
  return {
    url: server.url,
    dataDir: server.config.dataDir,
    ...(password === undefined || journal ? {} : { login: { username: 'admin', password } }),
    ...(loginFile === undefined ? {} : { loginFile }),
    ...(server.tlsFingerprint === undefined ? {} : { tlsFingerprint: server.tlsFingerprint }),
    ...(lab === undefined ? {} : { lab: lab.url, labFingerprint: lab.fingerprint }),
  }
}

function startText(info: ServerResult): string {
  const lines = [`Strata server at ${info.url}`]
  if (info.tlsFingerprint !== undefined) lines.push(`TLS certificate: SHA-256 ${info.tlsFingerprint}`)
  if (info.login !== undefined) lines.push(`login: ${info.login.username} / ${info.login.password}`)
  else if (info.loginFile !== undefined)
    lines.push(`login: admin, with the password in ${info.loginFile} (read it once, then delete it)`)
  else lines.push('login: an existing user (the admin password was shown at the first start)')
  if (info.lab !== undefined)
    lines.push(
      `lab pool at ${info.lab} with a demo job (VMs tagged 'web')`,
      `lab certificate pinned: SHA-256 ${info.labFingerprint}`,
    )
  return `${lines.join('\n')}\n`
}
