// A real S3 server for tests: a fresh single-node Ceph cluster (one monitor, one memstore OSD, one
// radosgw) in a scratch directory, on free loopback ports, with a user whose keys are known. Takes
// about 13 s. Every daemon is a child of this process, killed by stop(); a watchdog shell kills them
// too if this process dies without calling stop(), so no daemon outlives its test run.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { appendFileSync, createWriteStream } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cephConfig } from './ceph-config.js'
import { freePort, logTail, run, startWatchdog, stopChild, waitFor } from './process-helpers.js'
import { requireBinary } from './binaries.js'

export interface S3ServerInfo {
  /** e.g. 'http://127.0.0.1:41234' */
  readonly endpoint: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly region: string
}

export interface S3Server extends S3ServerInfo {
  readonly dir: string
  stop(): Promise<void>
}

export interface StartS3ServerOptions {
  /** Bound on the whole start (default 120 s: a loaded CI box); the error carries the log tails. */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
}

/** What marks a test file as needing the server; the global setup looks for it in the run's files. */
export const S3_MARKER = /inject\('s3'\)|useS3Server\(/

const BINARIES = ['monmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph']

export async function startS3Server(options: StartS3ServerOptions = {}): Promise<S3Server> {
  for (const name of BINARIES) requireBinary(name)
  // A plain timer, not AbortSignal.timeout() inside AbortSignal.any(): Node 20 may garbage-collect
  // an otherwise unreferenced timeout signal, and the deadline then never fires.
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(new Error('start timed out')), options.timeoutMs ?? 120_000)
  const onAbort = () => deadline.abort(options.signal?.reason)
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    // A second attempt covers the one race we cannot close: a free port taken between check and bind.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startCluster(deadline.signal)
      } catch (error) {
        if (attempt >= 2 || deadline.signal.aborted) throw error
      }
    }
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

async function startCluster(deadline: AbortSignal): Promise<S3Server> {
  const cluster = new Cluster(join(tmpdir(), `strata-ceph-${process.pid}-${randomBytes(4).toString('hex')}`))
  try {
    return await cluster.start(deadline)
  } catch (error) {
    const tail = await logTail(join(cluster.dir, 'log')).catch(() => '')
    await cluster.stop()
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`cannot start Ceph radosgw in ${cluster.dir}: ${reason}\n${tail}`, { cause: error })
  }
}

class Cluster {
  readonly #children: ChildProcess[] = []
  #watchdog: ChildProcess | undefined

  constructor(readonly dir: string) {}

  get conf(): string {
    return join(this.dir, 'ceph.conf')
  }

  async start(signal: AbortSignal): Promise<S3Server> {
    const [monPort, rgwPort] = [await freePort(), await freePort()]
    for (const sub of ['log', 'run', 'mon', 'osd0', 'rgw'])
      await mkdir(join(this.dir, sub), { recursive: true })
    const fsid = randomUUID()
    await writeFile(this.conf, cephConfig({ dir: this.dir, fsid, monPort, rgwPort }))
    await writeFile(join(this.dir, 'keyring'), '')
    this.#startWatchdog()
    const c = ['-c', this.conf]
    await run(
      'monmaptool',
      ['--create', '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, '--fsid', fsid, this.path('monmap')],
      signal,
    )
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', this.path('monmap')], signal)
    this.#spawn('ceph-mon', [...c, '-f', '-i', 'a'])
    const osdUuid = randomUUID()
    const id = (await run('ceph', [...c, 'osd', 'new', osdUuid], signal)).trim()
    await run('ceph-osd', [...c, '-i', id, '--mkfs', '--osd-uuid', osdUuid], signal)
    await run(
      'ceph',
      [...c, 'osd', 'crush', 'add', `osd.${id}`, '1', 'root=default', 'host=localhost'],
      signal,
    )
    this.#spawn('ceph-osd', [...c, '-f', '-i', id])
    await waitFor('the OSD to be up', signal, async () => {
      const out = JSON.parse(await run('ceph', [...c, 'osd', 'stat', '-f', 'json'], signal)) as {
        num_up_osds?: number
      }
      return out.num_up_osds === 1
    })
    this.#spawn('radosgw', [...c, '-f', '-n', 'client.rgw.0'])
    const endpoint = `http://127.0.0.1:${rgwPort}`
    await waitFor('radosgw to answer HTTP', signal, async () => {
      const response = await fetch(endpoint, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)
      return response !== undefined && response.status < 500
    })
    const accessKeyId = `STRATA${randomBytes(6).toString('hex').toUpperCase()}`
    const secretAccessKey = randomBytes(20).toString('hex')
    const user = ['user', 'create', '--uid=strata-test', '--display-name=strata-test']
    await run(
      'radosgw-admin',
      [...c, ...user, `--access-key=${accessKeyId}`, `--secret=${secretAccessKey}`],
      signal,
    )
    return {
      endpoint,
      accessKeyId,
      secretAccessKey,
      region: 'us-east-1',
      dir: this.dir,
      stop: () => this.stop(),
    }
  }

  path(name: string): string {
    return join(this.dir, name)
  }

  /** Kills every daemon (SIGTERM, then SIGKILL after 3 s) and removes the directory. Idempotent. */
  async stop(): Promise<void> {
    const children = this.#children.splice(0)
    await Promise.all(children.reverse().map((child) => stopChild(child, 'SIGTERM', 3000)))
    this.#watchdog?.kill('SIGKILL')
    this.#watchdog = undefined
    await rm(this.dir, { recursive: true, force: true })
  }

  #spawn(command: string, args: string[]): void {
    const out = createWriteStream(join(this.dir, 'log', `${command}.out`))
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.pipe(out)
    child.stderr?.pipe(out)
    child.on('error', () => undefined)
    this.#children.push(child)
    if (child.pid !== undefined) appendFileSync(this.path('daemons.pid'), `${child.pid}\n`)
  }

  /** Kills the daemons listed in daemons.pid (each added as it is spawned) if the test runner dies. */
  #startWatchdog(): void {
    this.#watchdog = startWatchdog(this.path('daemons.pid'), this.dir)
  }
}
