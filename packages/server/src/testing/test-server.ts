// A server for integration tests: data under the scratch directory, an ephemeral port, no web UI, no
// log output, and none of the environment's settings. Its restores run in the engine's workers, or in
// the ones a test gives (engine/testing/: a worker with an injected fatal error).
import type { Scratch } from '@strata/core/testing'
import { runRestoreInWorker } from '@strata/core/engine'
import { startServerWith, type RunningServer, type StartOptions, type Workers } from '../start-server.js'

export function startTestServer(
  scratch: Scratch,
  options: StartOptions = {},
  workers: Workers = { restore: runRestoreInWorker },
): Promise<RunningServer> {
  return startServerWith(
    {
      dataDir: scratch.path('data'),
      port: 0,
      webDir: scratch.path('no-ui'),
      echo: () => undefined,
      env: {},
      ...options,
    },
    workers,
  )
}
