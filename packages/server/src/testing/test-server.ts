// A server for integration tests: data under the scratch directory, an ephemeral port, no web UI, no
// log output, and none of the environment's settings.
import type { Scratch } from '@strata/core/testing'
import { startServer, type RunningServer, type StartOptions } from '../start-server.js'

export function startTestServer(scratch: Scratch, options: StartOptions = {}): Promise<RunningServer> {
  return startServer({
    dataDir: scratch.path('data'),
    port: 0,
    webDir: scratch.path('no-ui'),
    echo: () => undefined,
    env: {},
    ...options,
  })
}
