// `strata server`: runs the server (HTTP API, web UI, scheduler) until interrupted. With --demo it also
// starts a lab pool and configures it with a local repository and a demo job (the README's first command).
import { join } from 'node:path'
import { LabPool } from '@strata/lab'
import { setupDemo, startServer } from '@strata/server'
import { UsageError, type Command } from '../command.js'
import { dataDirArg, dataDirOptions } from './data-dir-option.js'

interface ServerResult {
  url: string
  dataDir: string
  login?: { username: string; password: string }
  lab?: string
  /** The lab's certificate fingerprint, pinned in the demo pool. */
  labFingerprint?: string
}

export const serverCommand: Command<ServerResult> = {
  path: ['server'],
  usage: 'server [--port N] [--host ADDR] [--data-dir DIR] [--demo]',
  summary:
    'Run the Strata server (API, web UI, scheduler) until interrupted; --demo adds a lab pool and a demo job',
  positionals: 0,
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    ...dataDirOptions,
    demo: { type: 'boolean' },
  },
  async run(args, { signal, stdout, stderr, json }) {
    const { values } = args
    const dataDir = dataDirArg(args, (line) => stderr.write(`strata: warning: ${line}\n`))
    const port = values.port === undefined ? undefined : Number(values.port)
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
      throw new UsageError('--port must be a TCP port')
    const demo = values.demo === true
    const lab = demo ? await LabPool.start({ diskMBps: 64 }) : undefined
    try {
      const server = await startServer({
        port,
        host: typeof values.host === 'string' ? values.host : undefined,
        dataDir,
        echo: (line) => stderr.write(`${line}\n`),
      })
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
            signal,
          )
        const password = server.generatedAdminPassword ?? server.config.adminPassword
        const info: ServerResult = {
          url: server.url,
          dataDir: server.config.dataDir,
          ...(password === undefined ? {} : { login: { username: 'admin', password } }),
          ...(lab === undefined ? {} : { lab: lab.url, labFingerprint: lab.fingerprint }),
        }
        if (json) stdout.write(`${JSON.stringify(info)}\n`)
        else {
          stdout.write(`Strata server at ${info.url}\n`)
          if (info.login !== undefined)
            stdout.write(`login: ${info.login.username} / ${info.login.password}\n`)
          else stdout.write('login: an existing user (the admin password was shown at the first start)\n')
          if (info.lab !== undefined)
            stdout.write(
              `lab pool at ${info.lab} with a demo job (VMs tagged 'web')\n` +
                `lab certificate pinned: SHA-256 ${info.labFingerprint}\n`,
            )
        }
        stderr.write('press Ctrl-C to stop\n')
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve()
          signal.addEventListener('abort', () => resolve(), { once: true })
        })
        return info
      } finally {
        await server.close()
      }
    } finally {
      await lab?.close()
    }
  },
  format: (r) => `stopped the server at ${r.url}`,
}
