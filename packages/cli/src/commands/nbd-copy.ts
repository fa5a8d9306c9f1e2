import { copyToFile, NbdClient, parseNbdUri } from '@strata/core/nbd'
import type { Command } from '../command.js'
import { clientTlsOptions, positiveInt, readClientTls } from './nbd-common.js'

interface NbdCopyResult {
  uri: string
  output: string
  size: number
  bytesRead: number
  zeroBytesSkipped: number
  connections: number
  seconds: number
  mbPerSecond: number
}

export const nbdCopy: Command<NbdCopyResult> = {
  path: ['nbd', 'copy'],
  usage:
    'nbd copy URI OUT|null: [--connections N] [--requests N] [--request-size BYTES] [--no-extents] [--tls-cert|--tls-ca PEM]',
  summary:
    'Copy an NBD export (nbd://, nbds://, nbd+unix://) to a file or device, skipping zeros; null: reads and discards ' +
    '(TLS: --tls-cert PEM pins the server certificate, --tls-ca PEM verifies its chain, --tls-name NAME, ' +
    '--tls-client-cert/--tls-client-key PEM)',
  positionals: 2,
  options: {
    connections: { type: 'string' },
    requests: { type: 'string' },
    'request-size': { type: 'string' },
    'no-extents': { type: 'boolean' },
    ...clientTlsOptions,
  },
  async run({ positionals, values }, { signal }) {
    const [uri, output] = positionals as [string, string]
    const target = parseNbdUri(uri)
    const client = await NbdClient.open(
      {
        ...target,
        tls: await readClientTls(values, target.tls),
        connections: positiveInt(values.connections, 'connections'),
        inFlight: positiveInt(values.requests, 'requests'),
        requestSize: positiveInt(values['request-size'], 'request-size'),
        // The composition root reads the environment, the library does not: for A/B runs of TLS reads.
        tlsDirectReads: process.env.STRATA_NBD_TLS_USER_BUFFER !== '0',
      },
      signal,
    )
    try {
      const r = await copyToFile(client, output, { useExtents: values['no-extents'] !== true, signal })
      return {
        uri,
        output,
        ...r,
        connections: client.connectionCount,
        mbPerSecond: Math.round(r.size / 1e6 / r.seconds),
      }
    } finally {
      await client.close()
    }
  },
  format: (r) =>
    `copied ${r.size} bytes from ${r.uri} to ${r.output} in ${r.seconds.toFixed(2)} s (${r.mbPerSecond} MB/s): ` +
    `${r.bytesRead} read, ${r.zeroBytesSkipped} zero bytes skipped, ${r.connections} connection(s)`,
}
