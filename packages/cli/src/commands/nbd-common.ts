// Options shared by the nbd commands: TLS material read from PEM files.
import { readFile } from 'node:fs/promises'
import type { NbdTlsOptions } from '@strata/core/nbd'
import type { OptionSpec } from '../command.js'
import { UsageError } from '../command.js'

export const clientTlsOptions: OptionSpec = {
  'tls-cert': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-name': { type: 'string' },
  'tls-client-cert': { type: 'string' },
  'tls-client-key': { type: 'string' },
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

export function positiveInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`)
  return n
}

/** TLS settings for an nbds:// URI: a pinned certificate (--tls-cert) or a CA (--tls-ca), else system CAs. */
export async function readClientTls(
  values: Record<string, unknown>,
  tls: boolean,
): Promise<NbdTlsOptions | undefined> {
  const given = ['tls-cert', 'tls-ca', 'tls-client-cert'].some((k) => values[k] !== undefined)
  if (!tls) {
    if (given) throw new UsageError('TLS options need an nbds:// or nbds+unix:// URI')
    return undefined
  }
  const read = (k: string): Promise<string | undefined> =>
    str(values[k]) === undefined ? Promise.resolve(undefined) : readFile(str(values[k])!, 'utf8')
  return {
    pinnedCertificate: await read('tls-cert'),
    ca: await read('tls-ca'),
    servername: str(values['tls-name']),
    cert: await read('tls-client-cert'),
    key: await read('tls-client-key'),
  }
}
