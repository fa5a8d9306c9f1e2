// The PostgreSQL server shared by a whole test run: started once by vitest.global-setup.ts (only when a
// test file of the run uses it) and handed to test files through vitest's provide/inject. Each test
// creates its own database on it (postgresDatabase()).
import { inject } from 'vitest'
import type { PostgresServerInfo } from './postgres-server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    postgres?: PostgresServerInfo
  }
}

/** The run's PostgreSQL server. Throws (the test fails, never skips) if the global setup did not start one. */
export function usePostgres(): PostgresServerInfo {
  const server = inject('postgres')
  if (server === undefined) {
    throw new Error('no PostgreSQL server: vitest.global-setup.ts must be registered in vitest.config.ts')
  }
  return server
}
