// Issue 26's scale proof, shared by the server's integration test and `npm run bench -- scale`: a lab
// pool seeded with many small sparse VMs, one smart job on their tag under the default limits, run
// through the server while a client polls the pages an admin keeps open (runs, the run, jobs, overview)
// and the memory of the server's process and of each worker is sampled from /proc.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sleep } from '@strata/core'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from './api-client.js'
import { startTestServer } from './test-server.js'

export interface ScaleSetup {
  readonly dir: string
  /** The lab pool's process (scale-lab.ts). */
  readonly lab: ChildProcess
  readonly server: RunningServer
  readonly api: ApiClient
  readonly jobId: string
  readonly repositoryId: string
  close(): Promise<void>
}

export interface Latency {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

export interface ScaleFigures {
  readonly vms: number
  readonly status: string
  readonly runMs: number
  /** Latency of each polled GET, ms, over the whole run. */
  readonly latency: Latency
  /** The same, per path polled. */
  readonly perPath: Readonly<Record<string, Latency>>
  /** Peak RSS (MiB) of this process (the server; the lab runs in a process of its own) before and during the run. */
  readonly serverRssBefore: number
  readonly serverRssPeak: number
  /** Peak RSS (MiB) of each worker process seen during the run. */
  readonly workerRssPeaks: readonly number[]
  /**
   * The workers' peak RSS (MiB, the largest of them) once `early` VMs had ended, and at the end: what
   * the run's memory does as more VMs are backed up (it must not grow with them).
   */
  readonly workerRssEarly: number
  readonly early: number
  readonly runId: string
}

const MiB = 1024 * 1024

export async function startScale(vms: number, diskSize = '16MiB'): Promise<ScaleSetup> {
  // Not @strata/core/testing's scratch directory: the bench runs outside vitest.
  const dir = await mkdtemp(join(tmpdir(), 'strata-scale-'))
  const { child: lab, pool: labPool } = await startLab(vms, diskSize)
  const server = await startTestServer(
    { dir, path: (...parts) => join(dir, ...parts), [Symbol.asyncDispose]: async () => undefined },
    { adminPassword: 'admin-password' },
  )
  const api = new ApiClient(server.url)
  await api.login('admin', 'admin-password')
  const pool = await api.post('/api/pools', {
    name: 'lab',
    url: labPool.url,
    username: labPool.user,
    password: labPool.password,
    fingerprint: labPool.fingerprint,
  })
  await until('the pool', async () =>
    (await api.get(`/api/pools/${pool.body.id}`)).body.connected ? true : undefined,
  )
  const repo = await api.post('/api/repositories', { name: 'local', location: join(dir, 'repo'), init: true })
  const job = await api.post('/api/jobs', {
    name: 'Scale',
    vms: { smart: { pools: [pool.body.id], tags: ['scale'] } },
    repositories: [repo.body.id],
  })
  if (job.status !== 201) throw new Error(`the job was refused: ${JSON.stringify(job.body)}`)
  return {
    dir,
    lab,
    server,
    api,
    jobId: job.body.id as string,
    repositoryId: repo.body.id as string,
    async close() {
      await server.close().catch(() => undefined)
      await stopLab(lab)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export interface LabAddress {
  readonly url: string
  readonly user: string
  readonly password: string
  readonly fingerprint: string
}

/** The lab pool of scale-lab.ts in a process of its own, seeded with `vms` tagged 'scale'. */
export async function startLab(
  vms: number,
  diskSize: string,
  nbd = false,
): Promise<{ child: ChildProcess; pool: LabAddress }> {
  const entry = fileURLToPath(new URL('./scale-lab.ts', import.meta.url))
  const child = spawn(
    process.execPath,
    ['--conditions=strata-source', '--import', 'tsx', entry, String(vms), diskSize, ...(nbd ? ['nbd'] : [])],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the lab process exited (${code}) before it was ready`))),
  )
  exited.catch(() => undefined)
  const first = createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next()
  try {
    const line = await Promise.race([first, exited])
    return { child, pool: JSON.parse(String(line.value)) as LabAddress }
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
}

/** Ends its stdin (it closes the pool), and kills it if it does not exit in time. */
export async function stopLab(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const gone = new Promise((resolve) => child.once('exit', resolve))
  child.stdin?.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await gone
  clearTimeout(timer)
}

/** Runs the job once, polling the API and sampling memory until the run ended. */
export async function runScale(
  setup: ScaleSetup,
  vms: number,
  timeoutMs: number,
  early = Math.ceil(vms / 4),
): Promise<ScaleFigures> {
  const { api, jobId } = setup
  const serverRssBefore = process.memoryUsage.rss() / MiB
  const started = Date.now()
  const answer = await api.post(`/api/jobs/${jobId}/run`)
  if (answer.status !== 202) throw new Error(`the run was refused: ${JSON.stringify(answer.body)}`)
  const runId = answer.body.runId as string
  const paths = ['/api/runs', `/api/runs/${runId}`, '/api/jobs', '/api/overview']
  const latencies: number[] = []
  const byPath = new Map<string, number[]>(paths.map((p, i) => [['runs', 'run', 'jobs', 'overview'][i]!, []]))
  const memory = { server: serverRssBefore, workers: new Map<number, number>() }
  let status = 'pending'
  let workerRssEarly: number | undefined
  const sampler = sampleMemory(memory, () => status !== 'pending')
  while (status === 'pending') {
    if (Date.now() - started > timeoutMs) throw new Error(`run ${runId} did not end in ${timeoutMs} ms`)
    for (const path of paths) {
      const t0 = performance.now()
      const got = await api.get(path)
      latencies.push(performance.now() - t0)
      byPath.get(['runs', 'run', 'jobs', 'overview'][paths.indexOf(path)]!)!.push(latencies.at(-1)!)
      if (got.status !== 200) throw new Error(`GET ${path} answered ${got.status}`)
      if (path === paths[1] && workerRssEarly === undefined && vmsEnded(got.body) >= early)
        workerRssEarly = Math.max(0, ...memory.workers.values())
      if (path === '/api/runs')
        status =
          (got.body as { runId: string; status: string }[]).find((r) => r.runId === runId)?.status ?? status
    }
    await sleep(50)
  }
  const runMs = Date.now() - started
  await sampler
  return {
    vms,
    status,
    runMs,
    latency: percentiles(latencies),
    perPath: Object.fromEntries([...byPath].map(([name, values]) => [name, percentiles(values)])),
    serverRssBefore,
    serverRssPeak: memory.server,
    workerRssPeaks: [...memory.workers.values()],
    workerRssEarly: workerRssEarly ?? 0,
    early,
    runId,
  }
}

function vmsEnded(run: { children?: { name: string; status: string }[] }): number {
  return (run.children ?? []).filter((c) => c.name === 'VM' && c.status !== 'pending').length
}

async function sampleMemory(
  memory: { server: number; workers: Map<number, number> },
  done: () => boolean,
): Promise<void> {
  while (!done()) {
    memory.server = Math.max(memory.server, process.memoryUsage.rss() / MiB)
    for (const pid of await workerPids()) {
      const rss = await rssOf(pid)
      if (rss !== undefined) memory.workers.set(pid, Math.max(memory.workers.get(pid) ?? 0, rss))
    }
    await sleep(100)
  }
}

/** This process's children that run the engine's worker entry. */
async function workerPids(): Promise<number[]> {
  const pids: number[] = []
  for (const tid of await readdir(`/proc/${process.pid}/task`).catch(() => [])) {
    const children = await readFile(`/proc/${process.pid}/task/${tid}/children`, 'utf8').catch(() => '')
    for (const pid of children
      .split(' ')
      .filter((p) => p !== '')
      .map(Number)) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
      if (cmdline.includes('worker-main')) pids.push(pid)
    }
  }
  return pids
}

async function rssOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
  return kib === undefined ? undefined : Number(kib) / 1024
}

async function until(what: string, probe: () => Promise<true | undefined>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  while ((await probe()) === undefined) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

export function percentiles(values: number[]): Latency {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 }
}
