// The must-be-true of agents: two sites in network namespaces. Site B holds a lab pool, an agent
// (`strata agent`, the built CLI) and a local repository; the server runs in site A. A job on B's pool
// runs on the agent, the repository at B receives the data, and what crossed between the sites (counted
// on the agent's link, and on the veth that joins the sites) is under 1 % of the data backed up. The veth
// goes down for 3 s during the run: the run goes on at B and the server gets every one of its events.
// Then a VM restore at B from B's repository (the agent's) onto B's pool runs on the agent: the restored
// disk is the point's, byte for byte, and what crossed the veth meanwhile is under 1 % of what it wrote.
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { sleep } from '@strata/core'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { startTestServer } from '../testing/test-server.js'
import { until } from '../testing/lab-job.js'
import { agentOnline } from './testing/cli-agent.js'
import { addSitePool, pinnedAdmin, type PinnedAdmin } from './testing/pinned-admin.js'
import { pointDisk, restoreAtB, restoredDisk } from './testing/site-restore.js'
import { makeTwoSites, type TwoSites } from './testing/two-sites.js'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const BIN = fileURLToPath(new URL('../../../cli/bin/strata.js', import.meta.url))
const MiB = 1024 * 1024
const BLOCKS = 1600 // random 64 KiB blocks written into the VM's disk at B

/** The first JSON line a process prints on stdout. */
function firstJson<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined && out.includes('\n')) resolve(JSON.parse(line) as T)
    })
    child.on('close', (code) => reject(new Error(`${what} exited (${code}): ${err.slice(-2000)}`)))
  })
}

describe('agents across two sites', () => {
  let scratch: Scratch
  let sites: TwoSites
  let server: RunningServer
  let admin: PinnedAdmin
  const children: ChildProcess[] = []

  beforeAll(async () => {
    requireBinary('ip')
    requireBinary('openssl')
    requireBinary('mke2fs')
    expect(existsSync(BIN.replace('bin/strata.js', 'dist/commands/agent.js')), 'npm run build first').toBe(
      true,
    )
    scratch = await scratchDir('strata-agent-sites-')
    sites = await makeTwoSites()
  })
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    await server?.close().catch(() => undefined)
    await sites?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it(
    "backs up B's pool on B through the agent, with under 1 % of the data crossing to A",
    { timeout: 300_000 },
    async () => {
      // Site B: the lab pool, and data in its VM's disk (written from B).
      const labProcess = sites.spawnInB(
        [
          process.execPath,
          BIN,
          'lab',
          'serve',
          '--json',
          '--address',
          sites.addressB,
          '--vms',
          '1',
          '--disk-size',
          '256MiB',
        ],
        {},
      )
      children.push(labProcess)
      const lab = await firstJson<{
        url: string
        user: string
        password: string
        fingerprint: string
        vms: string[]
      }>(labProcess, 'the lab')
      const write = await promisify(execFile)('ip', [
      'netns', 'exec', sites.ns, process.execPath, BIN, 'lab', 'guest-write', '--pool', lab.url,
      '--fingerprint', lab.fingerprint, '--vm', lab.vms[0]!, '--random-blocks', String(BLOCKS),
    ], { env: { ...process.env, STRATA_XAPI_PASSWORD: lab.password } }) // prettier-ignore
      expect(write.stdout).toContain(`wrote ${BLOCKS} random 64 KiB blocks`)

      // Site A: the server, listening on A's end only.
      server = await startTestServer(scratch, {
        adminPassword: 'admin-password',
        tls: 'self-signed',
        host: sites.addressA,
      })
      admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
      const poolId = await addSitePool(admin, lab)
      // Site B: the agent, its token from the environment.
      const { agent, cli } = await agentOnline(admin, scratch.path('site-b', 'agent'), {
        pools: [poolId],
        args: ['--json'],
        spawn: (argv, env) => sites.spawnInB(argv, env),
      })
      children.push(cli.process)
      expect(agent.serverUrl).toBe(server.url)
      // B's repository, made and opened by the agent alone.
      const repoPath = scratch.path('site-b', 'repository')
      const repo = await admin.request<{ id: string }>('POST', '/api/repositories', {
        name: 'at-b',
        location: repoPath,
        init: true,
        agentId: agent.id,
      })
      expect(repo.status, JSON.stringify(repo.body)).toBe(201)
      const job = await admin.request<{ id: string }>('POST', '/api/jobs', {
        name: 'Site B',
        vms: { smart: { pools: [poolId] } },
        repositories: [repo.body.id],
        settings: { retries: 0 },
      })
      expect(job.status).toBe(201)
      const crossedBefore = await sites.crossed()

      const started = await admin.request<{ runId: string }>('POST', `/api/jobs/${job.body.id}/run`)
      expect(started.status).toBe(202)
      const { runId } = started.body
      // The link cut during the run (the veth down for 3 s): the run goes on at B, its events arrive after.
      const agentLog = scratch.path('site-b', 'agent', 'engine', 'runs', `${runId}.jsonl`)
      await until(
        'the run under way',
        async () => (await readFile(agentLog, 'utf8').catch(() => '')).includes('"progress"') || undefined,
        60_000,
      )
      await sites.link(false)
      await sleep(3000)
      expect(await readFile(agentLog, 'utf8')).toContain('"progress"')
      const endedWhileCut = (await readFile(agentLog, 'utf8')).includes('"type":"end","id":"0"')
      await sites.link(true)
      const run = await until(
        'the run',
        async () =>
          (
            await admin.request<{ runId: string; status: string }[]>('GET', `/api/runs?job=${job.body.id}`)
          ).body.find((r) => r.runId === runId && r.status !== 'pending'),
        300_000,
      )
      const crossed = (await sites.crossed()) - crossedBefore
      expect(run.status, cli.said()).toBe('success')
      const tree = (await admin.request<{ status: string }>('GET', `/api/runs/${runId}`)).body
      expect(tree.status).toBe('success')
      expect(JSON.stringify(tree)).toContain(lab.vms[0]!)
      // The server's log of the run holds every event the agent's holds (those of the cut included).
      const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '')
      const here = (await lines(scratch.path('data', 'engine', 'runs', `${runId}.jsonl`))).filter(
        (l) => !l.includes('"agentLink"'),
      )
      expect(here).toEqual(await lines(agentLog))
      console.log(
        `agents across two sites: the run ${endedWhileCut ? 'ended' : 'was still going'} when the link came back`,
      )

      // The data is at B: the repository there holds at least what the guest wrote.
      const du = await promisify(execFile)('du', ['-sb', repoPath])
      const stored = Number(du.stdout.split('\t')[0])
      expect(stored).toBeGreaterThan(50 * MiB)

      // A VM restore at B from B's repository onto B's pool: on the agent, its data staying at B.
      const restoreStarted = performance.now()
      const point = await pointDisk(repoPath)
      const restored = await restoreAtB(admin, sites, {
        repositoryId: repo.body.id,
        poolId,
        lab,
        agentErr: () => cli.said(),
      })
      expect(existsSync(scratch.path('site-b', 'agent', 'engine', 'runs', `${restored.runId}.jsonl`))).toBe(
        true,
      )
      console.log(
        `agents across two sites: restore of ${point.dataBytes} data bytes at B; veth ${restored.crossed} bytes ` +
          `during it (${((100 * restored.crossed) / point.dataBytes).toFixed(3)} %)`,
      )
      expect(point.dataBytes).toBeGreaterThan(50 * MiB)
      expect(restored.crossed).toBeLessThan(point.dataBytes / 100)
      expect(await restoredDisk(lab, restored.vmUuid)).toBe(point.sha256)
      const seconds = ((performance.now() - restoreStarted) / 1000).toFixed(1)
      console.log(`agents across two sites: the restore and its checks took ${seconds} s`)

      cli.process.kill('SIGTERM')
      const result = await firstJson<{ link: { read: number; written: number } }>(cli.process, 'the agent')
      const link = result.link.read + result.link.written
      console.log(
        `agents across two sites: ${stored} bytes stored at B; agent link ${link} bytes ` +
          `(${((100 * link) / stored).toFixed(3)} %), veth ${crossed} bytes during the run ` +
          `(${((100 * crossed) / stored).toFixed(3)} %)`,
      )
      expect(link).toBeGreaterThan(0)
      expect(link).toBeLessThan(stored / 100)
      expect(crossed).toBeLessThan(stored / 100)
    },
  )
})
