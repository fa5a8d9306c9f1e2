// A real SMB share for tests: Samba's smbd on a free loopback port with a private configuration, and
// smbnetfs (a FUSE SMB client) mounting it, since this machine has no kernel SMB client. Everything
// lives in a scratch directory. smbd runs in a process group of its own (it forks per connection), so
// stop() ends it whole; a watchdog shell unmounts the FUSE mount and kills both daemons if this process
// dies without calling stop(), so that no daemon or mount outlives its test run.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, createWriteStream } from 'node:fs'
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { requireBinary } from './binaries.js'
import { freePort, logTail, run, waitFor } from './process-helpers.js'

export interface SmbShare {
  /** The scratch directory (configuration, logs, the share's files, the FUSE mount). */
  readonly dir: string
  /** The share's directory on the server side. */
  readonly shareDir: string
  /** The share as a client sees it, through the smbnetfs mount (case-sensitive: see below). */
  readonly path: string
  /** A second share, as Samba serves one by default: names that differ only in case are one file. */
  readonly caseInsensitivePath: string
  readonly port: number
  readonly user: string
  readonly password: string
  stop(): Promise<void>
}

export interface StartSmbShareOptions {
  /** Bound on the whole start (default 60 s); the error carries the log tails. */
  readonly timeoutMs?: number
}

const SHARE = 'backup'

export async function startSmbShare(options: StartSmbShareOptions = {}): Promise<SmbShare> {
  for (const name of ['smbd', 'smbpasswd', 'smbnetfs', 'fusermount']) requireBinary(name)
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(new Error('start timed out')), options.timeoutMs ?? 60_000)
  const server = new SmbServer(await mkdtemp(join(tmpdir(), 'strata-smb-')))
  try {
    return await server.start(deadline.signal)
  } catch (error) {
    const tail = await logTail(server.path('log')).catch(() => '')
    await server.stop()
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`cannot start smbd and smbnetfs in ${server.dir}: ${reason}\n${tail}`, { cause: error })
  } finally {
    clearTimeout(timer)
  }
}

class SmbServer {
  readonly #children: ChildProcess[] = []
  #watchdog: ChildProcess | undefined

  constructor(readonly dir: string) {}

  path(...parts: string[]): string {
    return join(this.dir, ...parts)
  }

  async start(signal: AbortSignal): Promise<SmbShare> {
    const port = await freePort()
    const user = userInfo().username
    const password = randomBytes(12).toString('hex')
    for (const sub of [
      'private',
      'lock',
      'state',
      'cache',
      'pid',
      'ncalrpc',
      'share',
      'share-ci',
      'log',
      'home/.smb',
      'mnt',
    ])
      await mkdir(this.path(sub), { recursive: true })
    for (const share of ['share', 'share-ci']) await chmod(this.path(share), 0o777)
    await writeFile(this.path('smb.conf'), this.#serverConfig(port))
    this.#startWatchdog()
    await this.#addUser(user, password, signal)
    this.#spawn('smbd', ['-F', '--no-process-group', '--debug-stdout', '-s', this.path('smb.conf')], {}, true)
    await waitFor('smbd to listen', signal, () => listening(port))
    await this.#clientConfig(user, password)
    this.#spawn('smbnetfs', [this.path('mnt'), '-f', '-o', 'big_writes'], { HOME: this.path('home') })
    const path = this.path('mnt', `127.0.0.1:${port}`, SHARE)
    await waitFor('smbnetfs to show the share', signal, async () => (await readdir(path), true))
    return {
      dir: this.dir,
      shareDir: this.path('share'),
      path,
      caseInsensitivePath: this.path('mnt', `127.0.0.1:${port}`, `${SHARE}-ci`),
      port,
      user,
      password,
      stop: () => this.stop(),
    }
  }

  /** Unmounts, kills the daemons (smbd's whole group), removes the directory. Idempotent. */
  async stop(): Promise<void> {
    await run('fusermount', ['-u', '-z', this.path('mnt')], AbortSignal.timeout(10_000)).catch(
      () => undefined,
    )
    const children = this.#children.splice(0)
    await Promise.all(children.reverse().map(terminate))
    this.#watchdog?.kill('SIGKILL')
    this.#watchdog = undefined
    await rm(this.dir, { recursive: true, force: true })
  }

  #serverConfig(port: number): string {
    const d = (...parts: string[]) => this.path(...parts)
    return [
      '[global]',
      '  interfaces = 127.0.0.1',
      '  bind interfaces only = yes',
      `  smb ports = ${port}`,
      '  disable netbios = yes',
      '  server role = standalone server',
      '  map to guest = never',
      '  server min protocol = SMB2_02',
      `  private dir = ${d('private')}`,
      `  lock directory = ${d('lock')}`,
      `  state directory = ${d('state')}`,
      `  cache directory = ${d('cache')}`,
      `  pid directory = ${d('pid')}`,
      `  ncalrpc dir = ${d('ncalrpc')}`,
      `  passdb backend = tdbsam:${d('private', 'passdb.tdb')}`,
      `  log file = ${d('log', 'smbd.log')}`,
      '  load printers = no',
      '  printcap name = /dev/null',
      // Byte-exact keys (the store's contract, and the suite's 'B' beside 'b/'); the default, case-
      // insensitive behaviour is the second share's.
      `[${SHARE}]`,
      `  path = ${d('share')}`,
      '  read only = no',
      '  case sensitive = yes',
      '  preserve case = yes',
      '  short preserve case = yes',
      `[${SHARE}-ci]`,
      `  path = ${d('share-ci')}`,
      '  read only = no',
      '',
    ].join('\n')
  }

  async #clientConfig(user: string, password: string): Promise<void> {
    await writeFile(
      this.path('home', '.smb', 'smbnetfs.conf'),
      `smb_query_browsers "false"\nauth "${user}" "${password}"\n`,
      { mode: 0o600 },
    )
    await writeFile(this.path('home', '.smb', 'smb.conf'), '[global]\n  client min protocol = SMB2_02\n')
  }

  /** smbpasswd reads the password twice on stdin (-s): never on its command line. */
  async #addUser(user: string, password: string, signal: AbortSignal): Promise<void> {
    const child = spawn('smbpasswd', ['-c', this.path('smb.conf'), '-s', '-a', user], { signal })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.stdin.end(`${password}\n${password}\n`)
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', resolve)
    })
    if (code !== 0) throw new Error(`smbpasswd -a ${user} failed (${code}): ${output}`)
  }

  #spawn(command: string, args: string[], env: NodeJS.ProcessEnv, group = false): void {
    const out = createWriteStream(this.path('log', `${command}.out`))
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      detached: group, // a process group of its own: its forked children end with it
    })
    child.stdout?.pipe(out)
    child.stderr?.pipe(out)
    child.on('error', () => undefined)
    ;(child as ChildProcess & { group?: boolean }).group = group
    this.#children.push(child)
    if (child.pid !== undefined)
      appendFileSync(this.path('daemons.pid'), `${group ? -child.pid : child.pid}\n`)
  }

  /** Once this process is gone: unmount the FUSE mount, kill the daemons (and smbd's group), clean up. */
  #startWatchdog(): void {
    const pids = this.path('daemons.pid')
    const script =
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
      `fusermount -u -z '${this.path('mnt')}' 2>/dev/null; ` +
      `[ -f '${pids}' ] && for p in $(cat '${pids}'); do kill -9 $p 2>/dev/null; done; rm -rf '${this.dir}'`
    this.#watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' })
    this.#watchdog.unref()
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}

/** SIGTERM (to the whole group of a daemon started in one), SIGKILL after 3 s. */
function terminate(child: ChildProcess & { group?: boolean }): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve()
  const pid = child.group === true ? -child.pid : child.pid
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s)
    } catch {
      // already gone
    }
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => signal('SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(timer)
      signal('SIGKILL') // what the group still holds (smbd's children)
      resolve()
    })
    signal('SIGTERM')
  })
}
