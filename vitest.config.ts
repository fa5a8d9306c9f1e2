import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['strata-source'] },
  ssr: { resolve: { conditions: ['strata-source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'scripts/**/*.test.ts'],
    pool: 'forks',
    // Tests may call gc() to prove that what they rely on survives a collection.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One real S3 server (Ceph radosgw) per run, only when a test file of the run needs it.
    globalSetup: ['./vitest.global-setup.ts'],
  },
})
