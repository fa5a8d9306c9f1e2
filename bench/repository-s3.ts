// The S3 part of `npm run bench -- repository`: a first backup of the bench image to a real radosgw on
// this machine (the test harness's single-node Ceph), by Strata and by restic in the same run; then by
// Strata through a proxy that adds 20 ms to every request (a store across a WAN; `tc netem` is not
// available here) against the same proxy without the delay. Each backup goes to a fresh bucket, emptied
// after it: the OSD keeps objects in RAM.
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import {
  createTestBucket,
  s3Env,
  s3Location,
  startFaultProxy,
  startS3Server,
  type FaultProxy,
  type S3ServerInfo,
} from '@strata/core/testing/s3'
import { report, type Measurement, type TimedRun } from './harness.js'

export interface S3BenchInput {
  readonly rounds: number
  readonly image: string
  readonly bytes: number
  /** One `strata repo <name>` in its own process, with these variables added to its environment. */
  readonly strata: (name: string, args: string[], env: Record<string, string>) => Promise<TimedRun>
  readonly restic: (args: string[], env: Record<string, string>) => Promise<TimedRun>
}

export interface S3BenchResult {
  /** Strata's throughput over restic's, same radosgw, same run. */
  readonly vsRestic: number
  /** Strata's throughput with 20 ms added per request over its throughput through the same proxy without. */
  readonly withDelay: number
}

const DELAY_MS = 20

export async function benchS3(input: S3BenchInput): Promise<S3BenchResult> {
  console.log('\nstarting a single-node Ceph radosgw for the S3 runs (not timed)...')
  const server = await startS3Server()
  const plain = await startFaultProxy(server.endpoint)
  const delayed = await startFaultProxy(server.endpoint, () => ({ kind: 'delay', ms: DELAY_MS }))
  try {
    const runs = {
      strata: [] as TimedRun[],
      restic: [] as TimedRun[],
      proxy: [] as TimedRun[],
      delay: [] as TimedRun[],
    }
    for (let r = 0; r < input.rounds; r++) {
      const steps = [
        async () => runs.strata.push(await strataBackup(input, server, server)),
        async () => runs.restic.push(await resticBackup(input, server)),
        async () => runs.proxy.push(await strataBackup(input, server, endpoint(server, plain), plain)),
        async () => runs.delay.push(await strataBackup(input, server, endpoint(server, delayed), delayed)),
      ]
      // Odd rounds in reverse order: a slow spell of the shared machine does not always hit the same tool.
      for (const step of r % 2 === 0 ? steps : steps.reverse()) await step()
    }
    const m = (label: string, list: TimedRun[]): Measurement => ({
      label,
      seconds: list.map((x) => x.seconds),
      bytes: input.bytes,
    })
    const vsRestic = report(
      'First backup of 4 GiB to S3 (radosgw on this machine, same run)',
      m('strata repo backup-image to s3+http://', runs.strata),
      m('restic backup to s3:http://', runs.restic),
    )
    const withDelay = report(
      `First backup to S3 through a proxy, ${DELAY_MS} ms added to every request vs none`,
      m(`strata backup-image, +${DELAY_MS} ms per request`, runs.delay),
      m('strata backup-image, proxy without delay', runs.proxy),
      'no delay',
    )
    const cpu = (list: TimedRun[]): string => list.map((x) => x.cpu.toFixed(1)).join(', ')
    console.log(`  CPU seconds: strata ${cpu(runs.strata)}; restic ${cpu(runs.restic)}`)
    return { vsRestic, withDelay }
  } finally {
    await Promise.all([plain.close(), delayed.close()])
    await server.stop()
  }
}

function endpoint(server: S3ServerInfo, proxy: FaultProxy): S3ServerInfo {
  return { ...server, endpoint: proxy.url }
}

/** init, then a timed first backup; prints the requests it made (through a proxy) per stored chunk. */
async function strataBackup(
  input: S3BenchInput,
  server: S3ServerInfo,
  via: S3ServerInfo,
  proxy?: FaultProxy,
): Promise<TimedRun> {
  const bucket = await createTestBucket(server, 'bench-strata')
  try {
    const repo = ['--repo', s3Location(via, bucket)]
    const env = s3Env(server)
    await input.strata('init', [...repo, '--encrypt', '--compression', '1'], env)
    const before = proxy?.requests.length ?? 0
    const run = await input.strata('backup-image', [input.image, ...repo, '--vm', 'bench'], env)
    const { newChunks } = JSON.parse(run.stdout) as { newChunks: number }
    const requests = proxy === undefined ? '' : `, ${describeRequests(proxy, before, newChunks)}`
    console.log(
      `  strata via ${proxy === undefined ? 'radosgw' : via.endpoint}: ${run.seconds.toFixed(2)} s (cpu ${run.cpu.toFixed(2)} s), ${newChunks} new chunks${requests}`,
    )
    return run
  } finally {
    await emptyBucket(server, bucket)
  }
}

async function resticBackup(input: S3BenchInput, server: S3ServerInfo): Promise<TimedRun> {
  const bucket = await createTestBucket(server, 'bench-restic')
  try {
    const env = { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey }
    const repo = ['-r', `s3:${server.endpoint}/${bucket}`]
    await input.restic([...repo, 'init'], env)
    const run = await input.restic([...repo, 'backup', '--quiet', input.image], env)
    console.log(`  restic to radosgw: ${run.seconds.toFixed(2)} s (cpu ${run.cpu.toFixed(2)} s)`)
    return run
  } finally {
    await emptyBucket(server, bucket)
  }
}

function describeRequests(proxy: FaultProxy, since: number, chunks: number): string {
  const byMethod: Record<string, number> = {}
  for (const r of proxy.requests.slice(since)) byMethod[r.method] = (byMethod[r.method] ?? 0) + 1
  const total = proxy.requests.length - since
  const parts = Object.entries(byMethod).map(([method, n]) => `${n} ${method}`)
  return `${total} requests (${parts.join(', ')}) = ${(total / Math.max(1, chunks)).toFixed(2)} per new chunk`
}

async function emptyBucket(server: S3ServerInfo, bucket: string): Promise<void> {
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  })
  try {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }))
      const keys = (page.Contents ?? []).map((o) => o.Key!)
      if (keys.length === 0) return
      // One by one, 16 at a time: DeleteObjects wants a body checksum that servers disagree on.
      for (let i = 0; i < keys.length; i += 16)
        await Promise.all(
          keys.slice(i, i + 16).map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))),
        )
    }
  } finally {
    client.destroy()
  }
}
