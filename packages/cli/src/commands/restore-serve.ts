// `strata restore serve`: one disk of a restore point as an NBD export, read straight from the
// repository, until interrupted. Writable exports keep their writes in memory, never in the repository.
import { readFile } from 'node:fs/promises'
import { resolvePoint } from '@strata/core/repository'
import { servePoint } from '@strata/core/restore'
import { UsageError, type Command } from '../command.js'
import { positiveInt, str } from './nbd-common.js'
import { formatBytes, openRepository, parseCount, repoOption } from './repo-common.js'

interface RestoreServeResult {
  uri: string
  point: string
  disk: number
  diskName: string
  size: number
  writable: boolean
  /** Bytes written by clients, held in memory and dropped at the end. */
  overlayBytes: number
}

export const restoreServeCommand: Command<RestoreServeResult> = {
  path: ['restore', 'serve'],
  usage:
    'restore serve --repo REPO --point ID --disk N [--port P | --socket PATH] [--host H] [--name X] ' +
    '[--writable] [--tls-cert PEM --tls-key PEM [--tls-ca PEM]]',
  summary:
    'Serve a disk of a restore point over NBD straight from the repository until interrupted: read-only, ' +
    'or --writable with writes kept in memory (the repository is never written)',
  positionals: 0,
  options: {
    ...repoOption,
    point: { type: 'string' },
    disk: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    socket: { type: 'string' },
    name: { type: 'string' },
    writable: { type: 'boolean' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
  },
  async run({ values, positionals }, { signal, stdout, stderr, json }) {
    const point = str(values.point)
    if (point === undefined) throw new UsageError('--point ID is required')
    if (values.port !== undefined && values.socket !== undefined)
      throw new UsageError('--port and --socket exclude each other')
    const disk = parseCount(values.disk, '--disk') ?? 0
    const port = positiveInt(values.port, 'port')
    const tls = await readServerTls(values)
    const repository = await openRepository({ values, positionals }, signal)
    const ref = await resolvePoint(repository, point, signal)
    const served = await servePoint({
      repository,
      ref,
      disk,
      writable: values.writable === true,
      exportName: str(values.name) ?? '',
      tls,
      listen: {
        host: str(values.host),
        port: port ?? (values.socket === undefined ? 10809 : 0),
        path: str(values.socket),
      },
      signal,
    })
    try {
      // The URI alone on stdout, for scripts; what it serves on stderr. The JSON result comes at the end.
      ;(json ? stderr : stdout).write(`${served.uri}\n`)
      stderr.write(
        `serving disk ${disk} (${served.diskName}, ${formatBytes(served.size)}) of ${served.point}, ` +
          `${values.writable === true ? 'writable (writes kept in memory)' : 'read-only'}; Ctrl-C stops\n`,
      )
      await untilAborted(signal)
    } finally {
      await served.close()
    }
    return {
      uri: served.uri,
      point: served.point,
      disk,
      diskName: served.diskName,
      size: served.size,
      writable: values.writable === true,
      overlayBytes: served.overlayBytes,
    }
  },
  format: (r) =>
    `stopped serving disk ${r.disk} of ${r.point} at ${r.uri}` +
    (r.writable ? ` (${formatBytes(r.overlayBytes)} written to memory, dropped)` : ''),
}

async function readServerTls(values: Record<string, unknown>) {
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined))
    throw new UsageError('--tls-cert and --tls-key go together')
  if (values['tls-cert'] === undefined) {
    if (values['tls-ca'] !== undefined) throw new UsageError('--tls-ca needs --tls-cert and --tls-key')
    return undefined
  }
  const ca = str(values['tls-ca'])
  return {
    cert: await readFile(str(values['tls-cert'])!, 'utf8'),
    key: await readFile(str(values['tls-key'])!, 'utf8'),
    ca: ca === undefined ? undefined : await readFile(ca, 'utf8'),
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve()
    signal.addEventListener('abort', () => resolve(), { once: true })
  })
}
