// A real PostgreSQL server for tests: a fresh cluster (Debian's `postgresql` binaries: initdb, postgres)
// in a scratch directory, listening on a free loopback port, with a superuser whose password is
// random. Takes about 2 s. PostgreSQL refuses to run as root, so as root the cluster belongs to the
// `postgres` system user and its binaries run under setpriv. A watchdog shell stops the server if this
// process dies without calling stop(), so no server outlives its test run.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { freePort, logTail, startWatchdog, stopChild, waitFor } from './process-helpers.js'

export interface PostgresServerInfo {
  readonly host: string
  readonly port: number
  /** A superuser: tests create their own databases with it (postgresDatabase()). */
  readonly user: string
  readonly password: string
}

export interface PostgresServer extends PostgresServerInfo {
  readonly dir: string
  stop(): Promise<void>
}

/** What marks a test file as needing the server; the global setup looks for it in the run's files. */
export const POSTGRES_MARKER = /inject\('postgres'\)|usePostgres\(/

const LIB = '/usr/lib/postgresql'

/** The newest installed server's bin directory; throws (a test fails, never skips) without one. */
export function postgresBinDir(): string {
  const versions = existsSync(LIB) ? readdirSync(LIB).filter((v) => /^\d+$/.test(v)) : []
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]
  if (newest === undefined || !existsSync(join(LIB, newest, 'bin', 'postgres'))) {
    throw new Error(
      `PostgreSQL is not installed (no ${LIB}/<version>/bin/postgres): run scripts/install-system.sh`,
    )
  }
  return join(LIB, newest, 'bin')
}

export async function startPostgresServer(
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<PostgresServer> {
  const bin = postgresBinDir()
  const dir = join(tmpdir(), `strata-pg-${process.pid}-${randomBytes(4).toString('hex')}`)
  const deadline = AbortSignal.any([
    AbortSignal.timeout(options.timeoutMs ?? 60_000),
    ...(options.signal ? [options.signal] : []),
  ])
  const cluster = new Cluster(bin, dir)
  try {
    return await cluster.start(deadline)
  } catch (error) {
    const tail = await logTail(join(dir, 'log')).catch(() => '')
    await cluster.stop()
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`cannot start PostgreSQL in ${dir}: ${reason}\n${tail}`, { cause: error })
  }
}

/**
 * Creates a database of its own for a test (a random name unless given) and returns its URL. The
 * password goes to createdb through the environment, never its command line.
 */
export async function postgresDatabase(
  server: PostgresServerInfo,
  name = `t_${randomBytes(6).toString('hex')}`,
): Promise<string> {
  const bin = postgresBinDir()
  await new Promise<void>((resolve, reject) => {
    execFile(
      join(bin, 'createdb'),
      ['-h', server.host, '-p', String(server.port), '-U', server.user, name],
      { env: { ...process.env, PGPASSWORD: server.password }, timeout: 30_000 },
      (error, _out, stderr) =>
        error ? reject(new Error(`createdb ${name} failed: ${stderr}`, { cause: error })) : resolve(),
    )
  })
  const auth = `${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}`
  return `postgres://${auth}@${server.host}:${server.port}/${name}`
}

class Cluster {
  #server: ChildProcess | undefined
  #watchdog: ChildProcess | undefined
  readonly #asRoot = userInfo().uid === 0

  constructor(
    readonly bin: string,
    readonly dir: string,
  ) {}

  async start(signal: AbortSignal): Promise<PostgresServer> {
    const data = join(this.dir, 'data')
    await mkdir(join(this.dir, 'log'), { recursive: true })
    const user = 'strata_test'
    const password = randomBytes(18).toString('base64url')
    await writeFile(join(this.dir, 'pwfile'), `${password}\n`, { mode: 0o600 })
    if (this.#asRoot) await this.#giveToPostgres()
    this.#startWatchdog()
    await this.#run(
      'initdb',
      [
        '-D',
        data,
        '-U',
        user,
        '--pwfile',
        join(this.dir, 'pwfile'),
        '--auth=scram-sha-256',
        '-E',
        'UTF8',
        '--no-instructions',
      ],
      signal,
    )
    await rm(join(this.dir, 'pwfile'), { force: true })
    const port = await freePort()
    this.#server = this.#spawn('postgres', [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      // Test data is disposable: no fsync, which makes a cluster's writes ten times faster here.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ])
    const env = { ...process.env, PGPASSWORD: password }
    await waitFor(
      'PostgreSQL to accept connections',
      signal,
      () =>
        new Promise((resolve) => {
          execFile(
            join(this.bin, 'pg_isready'),
            ['-h', '127.0.0.1', '-p', String(port), '-U', user],
            { env, timeout: 5000 },
            (error) => resolve(!error),
          )
        }),
    )
    return { host: '127.0.0.1', port, user, password, dir: this.dir, stop: () => this.stop() }
  }

  /** Stops the server (SIGINT: fast shutdown; SIGKILL after 5 s) and removes the directory. Idempotent. */
  async stop(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server !== undefined) await stopChild(server, 'SIGINT', 5000)
    this.#watchdog?.kill('SIGKILL')
    this.#watchdog = undefined
    await rm(this.dir, { recursive: true, force: true })
  }

  async #giveToPostgres(): Promise<void> {
    const { uid, gid } = await idOf('postgres')
    for (const path of [this.dir, join(this.dir, 'log'), join(this.dir, 'pwfile')])
      await chown(path, uid, gid)
  }

  #command(name: string, args: string[]): [string, string[]] {
    const path = join(this.bin, name)
    return this.#asRoot
      ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--clear-groups', path, ...args]]
      : [path, args]
  }

  #run(name: string, args: string[], signal: AbortSignal): Promise<void> {
    const [command, argv] = this.#command(name, args)
    return new Promise((resolve, reject) => {
      execFile(command, argv, { signal, timeout: 60_000, cwd: this.dir }, (error, _out, stderr) =>
        error ? reject(new Error(`${name} failed: ${stderr}`, { cause: error })) : resolve(),
      )
    })
  }

  #spawn(name: string, args: string[]): ChildProcess {
    const [command, argv] = this.#command(name, args)
    const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.dir })
    const log: Buffer[] = []
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk))
    child.on(
      'exit',
      () => void writeFile(join(this.dir, 'log', `${name}.err`), Buffer.concat(log)).catch(() => undefined),
    )
    child.on('error', () => undefined)
    if (child.pid !== undefined) void writeFile(join(this.dir, 'server.pid'), `${child.pid}\n`)
    return child
  }

  /** Stops the server and removes the directory if the test runner dies. */
  #startWatchdog(): void {
    this.#watchdog = startWatchdog(join(this.dir, 'server.pid'), this.dir)
  }
}

function idOf(user: string): Promise<{ uid: number; gid: number }> {
  return new Promise((resolve, reject) => {
    execFile('id', ['-u', user], (e1, uid) => {
      if (e1)
        return reject(
          new Error(`no '${user}' system user (Debian's postgresql package makes it)`, { cause: e1 }),
        )
      execFile('id', ['-g', user], (e2, gid) =>
        e2 ? reject(e2) : resolve({ uid: Number(uid.trim()), gid: Number(gid.trim()) }),
      )
    })
  })
}
