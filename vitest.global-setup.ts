// Starts one real S3 server (Ceph radosgw, ~13 s) and one real PostgreSQL server (~2 s) for the whole
// test run and provides their addresses and keys to the test files (`useS3Server()` or `inject('s3')`,
// `usePostgres()`); each file then creates its own bucket or database. Runs that include no such file
// (e.g. unit tests of one module) do not pay for the start.
import { readFile } from 'node:fs/promises'
import type { TestProject } from 'vitest/node'
import { S3_MARKER, startS3Server } from './packages/core/src/testing/s3-server.js'
import { POSTGRES_MARKER, startPostgresServer } from './packages/core/src/testing/postgres-server.js'

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // The SDK warns once per process that its 2027 releases need Node 22: noise in every test file.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const needs = await runNeeds(project)
  const stops: (() => Promise<void>)[] = []
  try {
    if (needs.s3) {
      const server = await startS3Server()
      stops.push(() => server.stop())
      const { endpoint, accessKeyId, secretAccessKey, region } = server
      project.provide('s3', { endpoint, accessKeyId, secretAccessKey, region })
    }
    if (needs.postgres) {
      const server = await startPostgresServer()
      stops.push(() => server.stop())
      const { host, port, user, password } = server
      project.provide('postgres', { host, port, user, password })
    }
  } catch (error) {
    await Promise.all(stops.map((stop) => stop()))
    throw error
  }
  return stops.length === 0 ? undefined : async () => void (await Promise.all(stops.map((stop) => stop())))
}

async function runNeeds(project: TestProject): Promise<{ s3: boolean; postgres: boolean }> {
  // vitest keeps the command line's file filters here (not public API); without them, every file counts.
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern
  const specs = await project.vitest.getRelevantTestSpecifications(filters)
  const needs = { s3: false, postgres: false }
  for (const spec of specs) {
    const text = await readFile(spec.moduleId, 'utf8')
    needs.s3 ||= S3_MARKER.test(text)
    needs.postgres ||= POSTGRES_MARKER.test(text)
  }
  return needs
}
