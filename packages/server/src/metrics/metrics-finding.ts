// What `strata server --check-config` says about the metrics address: off (the API's /metrics needs a
// token or a session), on loopback, or on a reachable address, which answers anyone: a warning, since
// the metrics name jobs, VMs, pools and repositories.
import type { ServerConfig } from '../config.js'
import type { ConfigFinding } from '../config-finding.js'
import { isLoopbackHost } from '../tls/listen-policy.js'

export function metricsFinding(config: Pick<ServerConfig, 'metrics'>): ConfigFinding {
  const what = 'metrics'
  if (config.metrics === undefined)
    return { status: 'ok', what, detail: 'GET /metrics on the API only, with an API token or a session' }
  const { host, port } = config.metrics.listen
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`
  const open = `GET /metrics without authentication on ${address}`
  if (isLoopbackHost(host)) return { status: 'ok', what, detail: `${open} (loopback)` }
  return {
    status: 'warning',
    what,
    detail:
      `${open}: anyone who reaches it reads the names of jobs, VMs, pools and repositories ` +
      '(limit it with a firewall, or use an API token on the API)',
  }
}
