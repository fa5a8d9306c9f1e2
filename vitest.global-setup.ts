// What a whole test run shares, made once and only when a test file of the run needs it (runs that
// include no such file, e.g. unit tests of one module, do not pay for them):
// - one real S3 server (Ceph radosgw, ~13 s), its address and keys provided to the test files
//   (`useS3Server()` or `inject('s3')`); each file then creates its own bucket;
// - one real PostgreSQL server (~2 s) (`usePostgres()`); each file then creates its own database;
// - one build of the web UI from this checkout (~10 s of CPU), served by every end-to-end file's stack
//   (`inject('webUi')`) instead of a build per file.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { S3_MARKER, startS3Server } from './packages/core/src/testing/s3-server.js'
import { POSTGRES_MARKER, startPostgresServer } from './packages/core/src/testing/postgres-server.js'
import { UI_MARKER, buildUi } from './packages/web/test/build-ui.js'

type Undo = (() => Promise<void>)[]

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The SDK warns once per process that its 2027 releases need Node 22: noise in every test file.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const needs = await runNeeds(project)
  const undo: Undo = []
  const teardown = async () => void (await Promise.all(undo.map((f) => f())))
  // Side by side: the servers mostly wait for their daemons while the build uses the CPU.
  const started = await Promise.allSettled([
    needs.s3 ? provideS3(project, undo) : undefined,
    needs.postgres ? providePostgres(project, undo) : undefined,
    needs.ui ? provideUi(project, undo) : undefined,
  ])
  const failed = started.find((r) => r.status === 'rejected')
  if (failed === undefined) return teardown
  await teardown()
  throw failed.reason
}

async function provideS3(project: TestProject, undo: Undo): Promise<void> {
  const server = await startS3Server()
  undo.push(() => server.stop())
  const { endpoint, accessKeyId, secretAccessKey, region } = server
  project.provide('s3', { endpoint, accessKeyId, secretAccessKey, region })
}

async function providePostgres(project: TestProject, undo: Undo): Promise<void> {
  const server = await startPostgresServer()
  undo.push(() => server.stop())
  const { host, port, user, password } = server
  project.provide('postgres', { host, port, user, password })
}

async function provideUi(project: TestProject, undo: Undo): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-web-ui-'))
  undo.push(() => rm(dir, { recursive: true, force: true }))
  await buildUi(dir)
  project.provide('webUi', dir)
}

async function runNeeds(project: TestProject): Promise<{ s3: boolean; postgres: boolean; ui: boolean }> {
  // vitest keeps the command line's file filters here (not public API); without them, every file counts.
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern
  const specs = await project.vitest.getRelevantTestSpecifications(filters)
  const needs = { s3: false, postgres: false, ui: false }
  for (const spec of specs) {
    const text = await readFile(spec.moduleId, 'utf8')
    needs.s3 ||= S3_MARKER.test(text)
    needs.postgres ||= POSTGRES_MARKER.test(text)
    needs.ui ||= UI_MARKER.test(text)
  }
  return needs
}
