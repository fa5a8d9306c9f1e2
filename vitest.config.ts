import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

// How a run is laid out (docs/dev/architecture.md, "The test run"): two files at a time (most files
// wait on child processes: the lab, servers, qemu-nbd, radosgw, Chromium), then, one after the other
// and each in a fresh process as before, the files whose assertions bound a duration, so that no
// other file shares the machine with them.
const SERIAL = [
  // unit files with time bounds
  'packages/core/src/engine/run-log-listing.test.ts',
  'packages/core/src/nbd/client/connection.test.ts',
  'packages/core/src/nbd/server/server.test.ts',
  'packages/core/src/repository/codec-pool.test.ts',
  'packages/core/src/repository/config-seal.test.ts',
  'packages/core/src/repository/gc-deadline.test.ts',
  'packages/core/src/repository/points.test.ts',
  'packages/core/src/storage/limited-store.test.ts',
  'packages/core/src/storage/local-store-exclusive.test.ts',
  'packages/core/src/vhd/fuzz.test.ts',
  'packages/server/src/auth/password-hasher.test.ts',
  'packages/server/src/pools/clock-check.test.ts',
  // integration files with time bounds: latencies, take-overs, timeouts, the login timing ratio
  'packages/cli/src/commands/replicate.integration.test.ts', // health checks: a guest reports within 20 s
  'packages/core/src/storage/s3-faults.integration.test.ts',
  'packages/core/src/storage/s3-store.integration.test.ts',
  'packages/lab/src/many-vms.integration.test.ts',
  'packages/lab/src/xapi-faults.integration.test.ts',
  'packages/server/src/auth/login.integration.test.ts',
  'packages/server/src/backup.integration.test.ts',
  'packages/server/src/cluster/cluster-nodes.integration.test.ts',
  'packages/server/src/cluster/cluster-servers.integration.test.ts',
  'packages/server/src/cluster/cluster-shared-store.integration.test.ts',
  'packages/server/src/cluster/pg-coordinator.integration.test.ts',
  'packages/server/src/notifications/mailer.integration.test.ts',
  'packages/server/src/notifications/reports.integration.test.ts',
  'packages/server/src/pools/pool-connections.integration.test.ts',
  'packages/server/src/runs/other-run-lease.integration.test.ts',
  'packages/server/src/scale.integration.test.ts',
]

// The test files: `*.test.ts` under packages' src/ and test/, and under scripts/ (Node 20 has no fs.glob).
function testFiles(): string[] {
  const root = fileURLToPath(new URL('.', import.meta.url))
  const dirs = readdirSync(`${root}packages`).flatMap((p) => [`packages/${p}/src`, `packages/${p}/test`])
  return [...dirs, 'scripts']
    .filter((dir) => existsSync(`${root}${dir}`))
    .flatMap((dir) =>
      readdirSync(`${root}${dir}`, { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.test.ts') && !file.split('/').includes('node_modules'))
        .map((file) => `${dir}/${file}`),
    )
    .sort()
}

const shared = {
  resolve: { conditions: ['strata-source'] },
  ssr: { resolve: { conditions: ['strata-source'] } },
}

const test = {
  pool: 'forks' as const,
  testTimeout: 30_000,
  hookTimeout: 60_000,
}

// One project per serial file: a single-fork project runs its files in one process, and vitest starts
// a fresh process between projects, so each file keeps a process of its own.
const serial = SERIAL.map((file): TestProjectInlineConfiguration => ({
  ...shared,
  test: {
    ...test,
    name: `serial:${file.replace(/^packages\//, '')}`,
    include: [file],
    poolOptions: { forks: { singleFork: true } },
    sequence: { groupOrder: 1 },
  },
}))

/**
 * Integration files first, then unit files. Without the durations of an earlier run (a fresh CI
 * machine), vitest starts the largest files first; a short file can be a long integration test, and
 * started last it would run alone at the end of the group. Unit files, short, fill the gaps instead.
 */
class IntegrationFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const integration = (spec: TestSpecification) => spec.moduleId.endsWith('.integration.test.ts')
    return [...sorted.filter(integration), ...sorted.filter((spec) => !integration(spec))]
  }
}

export default defineConfig({
  ...shared,
  test: {
    ...test,
    // The workers' options are the run's, not a project's. Tests may call gc() to prove that what they
    // rely on survives a collection.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    maxWorkers: 2,
    minWorkers: 1,
    sequence: { sequencer: IntegrationFirst },
    // One real S3 server (Ceph radosgw), PostgreSQL and UI build per run, only when a test file of the
    // run needs it; the projects below share them (a project's own globalSetup would start more).
    globalSetup: ['./vitest.global-setup.ts'],
    projects: [
      {
        ...shared,
        test: {
          ...test,
          name: 'parallel',
          // The files by name rather than globs with `exclude: SERIAL`: a project's `exclude` replaces
          // the command line's `--exclude` (`npm run test:unit`). A new file needs a restart in watch mode.
          include: testFiles().filter((file) => !SERIAL.includes(file)),
          sequence: { groupOrder: 0 },
        },
      },
      ...serial,
    ],
  },
})
