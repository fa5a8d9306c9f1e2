// Starts one real S3 server (Ceph radosgw, ~13 s) for the whole test run and provides its address and
// keys to the test files (`useS3Server()` or `inject('s3')`); each file then creates its own bucket.
// Runs that include no such file (e.g. unit tests of one module) do not pay for the start.
import { readFile } from 'node:fs/promises'
import type { TestProject } from 'vitest/node'
import { S3_MARKER, startS3Server } from './packages/core/src/testing/s3-server.js'

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // The SDK warns once per process that its 2027 releases need Node 22: noise in every test file.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  if (!(await runNeedsS3(project))) return undefined
  const server = await startS3Server()
  const { endpoint, accessKeyId, secretAccessKey, region } = server
  project.provide('s3', { endpoint, accessKeyId, secretAccessKey, region })
  return () => server.stop()
}

async function runNeedsS3(project: TestProject): Promise<boolean> {
  // vitest keeps the command line's file filters here (not public API); without them, every file counts.
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern
  const specs = await project.vitest.getRelevantTestSpecifications(filters)
  for (const spec of specs) {
    if (S3_MARKER.test(await readFile(spec.moduleId, 'utf8'))) return true
  }
  return false
}
