// Deny by default: the server speaks plain HTTP only on a loopback address, where nothing it carries
// (passwords, session cookies, API tokens, pool passwords) crosses a network. Anywhere else it needs TLS,
// its own or a proxy's that the admin vouches for: with insecureHttp, or by naming the proxy in trustProxy
// (whose X-Forwarded-Proto then says whether the client's request came over HTTPS).
import { isIP } from 'node:net'
import { ConfigError } from '../config-error.js'
import type { TlsSetting } from './tls-setting.js'

export interface ListenSettings {
  readonly host: string
  readonly tls?: TlsSetting
  readonly insecureHttp: boolean
  /** The TLS-terminating proxies the config names (config.ts); true or a non-empty list allows plain HTTP. */
  readonly trustProxy?: boolean | readonly string[]
}

/** 127.0.0.0/8, ::1 (in any spelling, or IPv4-mapped 127/8) and `localhost`; any other name is not. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (bare === 'localhost') return true
  const version = isIP(bare)
  if (version === 4) return bare.startsWith('127.')
  if (version !== 6) return false
  if (bare.includes('.')) {
    const cut = bare.lastIndexOf(':')
    const prefix = ipv6Groups(`${bare.slice(0, cut + 1)}0:0`)
    return prefix.join(',') === '0,0,0,0,0,65535,0,0' && bare.slice(cut + 1).startsWith('127.')
  }
  return ipv6Groups(bare).join(',') === '0,0,0,0,0,0,0,1'
}

/** The eight groups of a valid IPv6 address (isIP said so), `::` expanded. */
function ipv6Groups(address: string): number[] {
  const [head = '', tail] = address.split('::')
  const split = (part: string) => (part === '' ? [] : part.split(':'))
  const groups =
    tail === undefined
      ? split(head)
      : [
          ...split(head),
          ...Array<string>(8 - split(head).length - split(tail).length).fill('0'),
          ...split(tail),
        ]
  return groups.map((g) => parseInt(g, 16))
}

/** Throws PLAIN_HTTP_REFUSED for plain HTTP on an address other machines may reach. */
export function checkListenPolicy(settings: ListenSettings): void {
  if (settings.tls !== undefined || settings.insecureHttp || isLoopbackHost(settings.host)) return
  if (behindProxy(settings)) return
  throw new ConfigError(
    `refusing plain HTTP on ${settings.host}, an address other machines may reach: passwords, session ` +
      'cookies and tokens would cross the network in clear. Serve HTTPS (tls with cert and key in the ' +
      'config, or --tls self-signed), or, behind a TLS proxy, name it in trustProxy or allow it with ' +
      '--insecure-http (insecureHttp = true in the config)',
    { code: 'PLAIN_HTTP_REFUSED' },
  )
}

/** A proxy is configured in front: true, or at least one address or range (an empty list names none). */
export function behindProxy(settings: Pick<ListenSettings, 'trustProxy'>): boolean {
  const proxies = settings.trustProxy ?? false
  return typeof proxies === 'boolean' ? proxies : proxies.length > 0
}
