// The S3 server shared by a whole test run: started once by vitest.global-setup.ts (only when a test
// file of the run uses it) and handed to test files through vitest's provide/inject.
import { inject } from 'vitest'
import type { S3ServerInfo } from './s3-server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    s3?: S3ServerInfo
  }
}

/** The run's S3 server. Throws (the test fails, never skips) if the global setup did not start one. */
export function useS3Server(): S3ServerInfo {
  const server = inject('s3')
  if (server === undefined) {
    throw new Error('no S3 server: vitest.global-setup.ts must be registered in vitest.config.ts')
  }
  return server
}
