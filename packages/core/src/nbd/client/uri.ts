// NBD URIs as libnbd, qemu and nbdkit write them (the NBD URI specification):
//   nbd://host[:port]/[export]   nbds://... (TLS)   nbd+unix:///[export]?socket=PATH   nbds+unix://...
import { NbdError } from '../errors.js'
import type { Endpoint } from './transport.js'

export interface NbdUri extends Endpoint {
  readonly exportName: string
  readonly tls: boolean
}

export function parseNbdUri(text: string): NbdUri {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new NbdError('NBD_INVALID_ARGUMENT', `'${text}' is not an NBD URI (nbd://host:port/export)`)
  }
  const scheme = url.protocol.slice(0, -1)
  if (!['nbd', 'nbds', 'nbd+unix', 'nbds+unix'].includes(scheme)) {
    throw new NbdError('NBD_INVALID_ARGUMENT', `unsupported NBD URI scheme '${scheme}' in '${text}'`)
  }
  const tls = scheme.startsWith('nbds')
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''))
  if (scheme.endsWith('+unix')) {
    const socketPath = url.searchParams.get('socket')
    if (socketPath === null || socketPath === '') {
      throw new NbdError('NBD_INVALID_ARGUMENT', `'${text}' needs ?socket=PATH`)
    }
    return { socketPath, exportName, tls }
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  if (host === '') throw new NbdError('NBD_INVALID_ARGUMENT', `'${text}' has no host`)
  return { host, port: url.port === '' ? 10809 : Number(url.port), exportName, tls }
}
