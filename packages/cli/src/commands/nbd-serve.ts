import { readFile } from 'node:fs/promises'
import { CowOverlay, FileBlockSource, NbdServer, staticExports, type NbdProfileName } from '@strata/core/nbd'
import { UsageError, type Command } from '../command.js'
import { positiveInt, str } from './nbd-common.js'

interface NbdServeResult {
  uri: string
  file: string
  profile: NbdProfileName
  writable: boolean
}

export const nbdServe: Command<NbdServeResult> = {
  path: ['nbd', 'serve'],
  usage:
    'nbd serve FILE [--socket PATH|--port N] [--name X] [--profile full|xapi] [--writable] [--tls-cert/--tls-key PEM]',
  summary:
    'Serve a raw image over NBD until interrupted: read-only, or --writable through a copy-on-write overlay ' +
    '(--host H; --tls-ca PEM requires client certificates)',
  positionals: 1,
  options: {
    name: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    socket: { type: 'string' },
    profile: { type: 'string' },
    writable: { type: 'boolean' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
  },
  async run({ positionals, values }, { signal, stdout, stderr, json }) {
    const file = positionals[0]!
    const profile = (str(values.profile) ?? 'full') as NbdProfileName
    if (profile !== 'full' && profile !== 'xapi') throw new UsageError(`--profile must be full or xapi`)
    const writable = values.writable === true
    if (writable && profile === 'xapi') throw new UsageError('the xapi profile is read-only, like xapi-nbd')
    if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
      throw new UsageError('--tls-cert and --tls-key go together')
    }
    const tls =
      values['tls-cert'] === undefined
        ? undefined
        : {
            cert: await readFile(str(values['tls-cert'])!, 'utf8'),
            key: await readFile(str(values['tls-key'])!, 'utf8'),
            ca: values['tls-ca'] === undefined ? undefined : await readFile(str(values['tls-ca'])!, 'utf8'),
          }
    const base = await FileBlockSource.open(file)
    const name = str(values.name) ?? ''
    const source = writable ? new CowOverlay(base) : base
    const server = await NbdServer.listen(
      { profile, resolve: staticExports({ [name]: source }), listExports: () => [name], tls },
      {
        host: str(values.host),
        port: positiveInt(values.port, 'port') ?? (values.socket === undefined ? 10809 : 0),
        path: str(values.socket),
      },
    )
    const uri = server.uri(name)
    // The URI is what the user needs while the server runs; the JSON result comes at the end.
    ;(json ? stderr : stdout).write(`${uri}\n`)
    try {
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve()
        signal.addEventListener('abort', () => resolve(), { once: true })
      })
    } finally {
      await server.close()
      await base.close()
    }
    return { uri, file, profile, writable }
  },
  format: (r) => `stopped serving ${r.file} at ${r.uri}`,
}
