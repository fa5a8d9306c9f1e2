// `strata repo gc` and the leftovers of killed writers, on a local directory and on a real radosgw:
// temp files of puts killed mid-write, multipart uploads killed mid-upload. --dry-run lists them and
// leaves them; gc removes those older than --margin and nothing younger.
import { readdir } from 'node:fs/promises'
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createTestBucket,
  killUploaderMidUpload,
  killWriterRepeatedly,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import { repoGc } from './repo-gc.js'
import { repoInit } from './repo-init.js'
import { runRepoCommand } from '../testing/repo-commands.js'

const server = useS3Server()
let scratch: Scratch
let bucket: string

beforeAll(async () => {
  scratch = await scratchDir()
  bucket = await createTestBucket(server, 'strata-leftovers')
  for (const [k, v] of Object.entries(s3Env(server))) process.env[k] = v
  delete process.env.STRATA_PASSPHRASE
})
afterAll(async () => {
  await scratch[Symbol.asyncDispose]()
})

const gc = (repo: string, values: Record<string, string | boolean>) =>
  runRepoCommand(repoGc, [], { repo, ...values }).then((r) => r.result)

describe('strata repo gc and leftovers of killed writers', () => {
  it('lists then removes the temp files of puts killed mid-write (local)', async () => {
    const repo = scratch.path('local-repo')
    await runRepoCommand(repoInit, [], { repo })
    await killWriterRepeatedly(repo, 6)
    const temps = async () =>
      (await readdir(repo, { recursive: true })).filter((p) =>
        p.split('/').at(-1)!.startsWith('.strata-tmp-'),
      )
    const left = await temps()
    expect(left.length).toBeGreaterThan(0) // the kills landed mid-put

    const young = await gc(repo, { 'dry-run': true }) // default margin: an hour
    expect(young.leftovers.count).toBe(0)
    const listed = await gc(repo, { 'dry-run': true, margin: '0s' })
    expect([...listed.leftovers.names].sort()).toEqual([...left].sort())
    expect(listed.leftovers.bytes).toBeGreaterThan(0)
    expect(await temps()).toEqual(left) // a dry run removes nothing
    const removed = await gc(repo, { margin: '0s' })
    expect(removed.leftovers.count).toBe(left.length)
    expect(await temps()).toEqual([])
  }, 120_000)

  it('lists then aborts the multipart uploads of a writer killed mid-upload (radosgw)', async () => {
    const prefix = 'uploads-repo'
    const repo = s3Location(server, bucket, prefix)
    await runRepoCommand(repoInit, [], { repo })
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    })
    const unfinished = async () =>
      (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` })))
        .Uploads ?? []
    try {
      const env = { ...process.env, ...s3Env(server) }
      for (let round = 0; round < 5 && (await unfinished()).length === 0; round++)
        await killUploaderMidUpload(`${repo}?partSize=5242880`, env)
      const left = await unfinished()
      expect(left.length).toBeGreaterThan(0) // the kill landed mid-upload

      const listed = await gc(repo, { 'dry-run': true, margin: '0s' })
      expect(listed.leftovers.count).toBe(left.length)
      expect(listed.leftovers.names).toEqual(
        left.map((u) => `${u.Key!.slice(prefix.length + 1)} (upload ${u.UploadId})`),
      )
      expect(await unfinished()).toHaveLength(left.length)
      const removed = await gc(repo, { margin: '0s' })
      expect(removed.leftovers.count).toBe(left.length)
      expect(await unfinished()).toEqual([])
    } finally {
      client.destroy()
    }
  }, 120_000)
})
