// The options `strata server` shares between running and --check-config: where the config is, and how
// the server listens (TLS, plain HTTP allowed off loopback).
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SELF_SIGNED, type ConfigCheck, type ConfigOverrides } from '@strata/server'
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'

export const serverOptions: OptionSpec = {
  port: { type: 'string' },
  host: { type: 'string' },
  config: { type: 'string' },
  tls: { type: 'string' },
  'insecure-http': { type: 'boolean' },
  db: { type: 'string' },
}

/** The overrides the flags give (the data directory is read by the caller). */
export function serverOverrides(args: ParsedArgs, dataDir: string | undefined): ConfigOverrides {
  const { values } = args
  const port = values.port === undefined ? undefined : Number(values.port)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    throw new UsageError('--port must be a TCP port')
  if (values.tls !== undefined && values.tls !== SELF_SIGNED)
    throw new UsageError(
      `--tls takes '${SELF_SIGNED}' (a certificate and key of your own go in the config file's [tls])`,
    )
  if (values.config === '') throw new UsageError('--config takes the path of a config file')
  if (values.db === '') throw new UsageError('--db takes a postgres:// URL')
  return {
    port,
    host: typeof values.host === 'string' ? values.host : undefined,
    dataDir,
    configFile: typeof values.config === 'string' ? values.config : undefined,
    ...(values.tls === SELF_SIGNED ? { tls: SELF_SIGNED } : {}),
    ...(values['insecure-http'] === true ? { insecureHttp: true } : {}),
    ...(typeof values.db === 'string' ? { db: values.db } : {}),
  }
}

export function formatCheck(check: ConfigCheck): string {
  const width = Math.max(...check.findings.map((f) => f.what.length))
  const lines = check.findings.map((f) => `${f.status.padEnd(7)} ${f.what.padEnd(width)}  ${f.detail}`)
  const problems = check.findings.filter((f) => f.status === 'error').length
  lines.push(
    problems === 0
      ? 'the configuration is usable'
      : `the configuration is not usable: ${problems} problem(s) above`,
  )
  return lines.join('\n')
}

/** Whether stdout/stderr are the systemd journal (a log), which systemd says with JOURNAL_STREAM. */
export function underJournal(): boolean {
  return (process.env.JOURNAL_STREAM ?? '') !== ''
}

/** The generated admin password, owner-only in the data directory, for an admin to read once. */
export function writeOncePassword(dataDir: string, password: string): string {
  const file = join(dataDir, 'initial-admin-password')
  rmSync(file, { force: true }) // one left by an earlier first start (its database since removed) is stale
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' })
  return file
}
