// One guestfish process reading commands on its stdin: one appliance, kept while a session browses.
// Each command is followed by two markers, an `echo` on stdout and an unknown command whose complaint
// lands on stderr, so that each command's output and errors are told apart on both streams whatever
// their timing. Every call has a timeout (of inactivity, for transfers); one that expires stops the
// appliance, as a command cannot be cancelled. If this process dies, guestfish reads EOF and exits,
// taking its appliance with it; close() waits for that and then kills the process group it leads.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, constants, openSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { Socket } from 'node:net'
import { PassThrough, type Readable } from 'node:stream'
import { promisify } from 'node:util'
import { AbortedError } from '../shared/index.js'
import { FileRestoreError } from './errors.js'
import { commandLine } from './guestfish-syntax.js'

const run = promisify(execFile)

export interface GuestfishSpawnOptions {
  /** Where FIFOs and libguestfs' temporary files go: a private directory the caller removes. */
  readonly workDir: string
  /** Run the appliance under TCG (KVM unusable). */
  readonly tcg: boolean
  /** Default timeout of a call (of inactivity for a transfer). */
  readonly callTimeoutMs: number
}

interface Pending {
  readonly marker: string
  readonly timeoutMs: number
  readonly out: Buffer[]
  err: string
  outDone: boolean
  errDone: boolean
  timer: NodeJS.Timeout | undefined
  /** A transfer whose reader holds back (its consumer is slow): the timer waits, it does not kill. */
  held?: () => boolean
  settle(error: Error | undefined, output: Buffer): void
}

export interface CallOptions {
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
}

export class Guestfish {
  readonly #child: ChildProcess
  readonly #options: GuestfishSpawnOptions
  readonly #token = `strata${randomBytes(8).toString('hex')}x`
  readonly #queue: Pending[] = []
  readonly #exited: Promise<void>
  #stdout: Buffer = Buffer.alloc(0)
  #stderr = ''
  /** Once set, every call fails with it. */
  #failure: Error | undefined
  #count = 0

  constructor(options: GuestfishSpawnOptions) {
    this.#options = options
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LIBGUESTFS_BACKEND: 'direct',
      LIBGUESTFS_TMPDIR: options.workDir,
      LC_ALL: 'C',
    }
    if (options.tcg) env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg'
    else delete env.LIBGUESTFS_BACKEND_SETTINGS
    // Its own process group, which qemu joins: close() can then end all of it by that id. And killed
    // with this process (parent death signal): a guestfish blocked opening a FIFO whose reader died
    // would never read the end of its input; its recovery process then stops qemu.
    this.#child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'guestfish', '--no-progress-bars'], {
      env,
      stdio: 'pipe',
      detached: true,
    })
    this.#exited = new Promise((resolve) => this.#child.once('close', () => resolve()))
    this.#child.once('error', (error) =>
      this.#fail(launchFailure(`guestfish did not start: ${error.message}`)),
    )
    this.#child.once('exit', (code, signal) =>
      this.#fail(
        new FileRestoreError('SESSION_CLOSED', `guestfish exited (${signal ?? code}): ${this.#stderrTail()}`),
      ),
    )
    this.#child.stdout!.on('data', (data: Buffer) => this.#onStdout(data))
    this.#child.stderr!.on('data', (data: Buffer) => this.#onStderr(data.toString('utf8')))
    this.#child.stdin!.on('error', () => {}) // a dead guestfish: its 'exit' says so
  }

  get pid(): number | undefined {
    return this.#child.pid
  }

  /** True once the process is gone or was stopped. */
  get failed(): boolean {
    return this.#failure !== undefined
  }

  /** Runs one command (arguments already quoted); resolves with what it printed on stdout. */
  call(name: string, args: readonly string[], options: CallOptions = {}): Promise<Buffer> {
    return this.#enqueue(name, args, options)
  }

  /**
   * Runs a command that writes a file (download, ls0, tar-out...) and streams that file: `args` gets
   * the path of a FIFO to pass where the command wants its output file. The stream ends once the
   * command succeeded and fails if it failed. A consumer that stops early only stops reading: the
   * rest is drained, so that guestfish never blocks on a FIFO nobody reads.
   */
  async output(
    name: string,
    args: (fifo: string) => readonly string[],
    options: CallOptions = {},
  ): Promise<{ stream: Readable; done: Promise<void> }> {
    const fifo = `${this.#options.workDir}/fifo-${this.#count++}`
    await run('mkfifo', ['-m', '600', fifo], { timeout: 10_000 })
    const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    // A writer of our own until the command is over: no end of file before guestfish opens its end.
    const keepFd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
    const reader = new Socket({ fd: readFd, readable: true, writable: false })
    const stream = new PassThrough({ highWaterMark: 1024 * 1024 })
    let pending: Pending | undefined
    reader.on('data', (data: Buffer) => {
      if (pending?.timer !== undefined) this.#arm(pending) // progress: the inactivity timer starts again
      if (stream.destroyed) return
      if (!stream.write(data)) {
        reader.pause()
        stream.once('drain', () => reader.resume())
      }
    })
    stream.on('close', () => reader.resume()) // gone early: drain what is left
    reader.on('end', () => stream.end())
    reader.on('error', (error) => stream.destroy(error))
    const done = this.#enqueue(name, args(fifo), options, (p) => {
      pending = p
      p.held = () => reader.isPaused() && !stream.destroyed
    }).then(
      () => undefined,
      (error: unknown) => {
        stream.destroy(error as Error)
        throw error
      },
    )
    const cleanup = (): void => {
      closeSync(keepFd)
      void rm(fifo, { force: true })
    }
    done.then(cleanup, cleanup)
    done.catch(() => {}) // the stream carries the error too
    return { stream, done }
  }

  /** Ends the session: guestfish exits at end of input, shutting its appliance down; then its group is killed. */
  async close(timeoutMs = 20_000): Promise<void> {
    this.#fail(new FileRestoreError('SESSION_CLOSED', 'the file restore session is closed'))
    this.#child.stdin!.end()
    const timer = setTimeout(() => this.#killGroup(), timeoutMs)
    await this.#exited
    clearTimeout(timer)
    this.#killGroup() // anything left in the group (a qemu whose parent died first)
  }

  #enqueue(
    name: string,
    args: readonly string[],
    options: CallOptions,
    onPending?: (p: Pending) => void,
  ): Promise<Buffer> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (options.signal?.aborted) return Promise.reject(new AbortedError(options.signal.reason))
    return new Promise<Buffer>((resolve, reject) => {
      const marker = `${this.#token}${this.#count++}`
      let settled = false
      const onAbort = (): void => pending.settle(new AbortedError(options.signal?.reason), Buffer.alloc(0))
      const pending: Pending = {
        marker,
        timeoutMs: options.timeoutMs ?? this.#options.callTimeoutMs,
        out: [],
        err: '',
        outDone: false,
        errDone: false,
        timer: undefined,
        settle: (error, output) => {
          if (settled) return
          settled = true
          options.signal?.removeEventListener('abort', onAbort)
          if (error === undefined) resolve(output)
          else reject(error)
        },
      }
      // An aborted caller stops waiting; the command still runs to its end, its answer dropped.
      options.signal?.addEventListener('abort', onAbort, { once: true })
      onPending?.(pending)
      this.#queue.push(pending)
      if (this.#queue.length === 1) this.#arm(pending)
      this.#child.stdin!.write(`${commandLine(name, args)}echo ${marker}\n-${marker}\n`)
    })
  }

  #arm(pending: Pending): void {
    clearTimeout(pending.timer)
    pending.timer = setTimeout(() => {
      if (pending.held?.() === true) return this.#arm(pending)
      this.#fail(
        new FileRestoreError(
          'APPLIANCE_TIMEOUT',
          `a libguestfs call gave no sign of progress for ${pending.timeoutMs / 1000} s: the appliance was stopped`,
          { retryable: true },
        ),
      )
      this.#killGroup()
    }, pending.timeoutMs)
  }

  #onStdout(data: Buffer): void {
    this.#stdout = this.#stdout.length === 0 ? data : Buffer.concat([this.#stdout, data])
    for (;;) {
      const head = this.#queue.find((p) => !p.outDone)
      const at = head === undefined ? -1 : this.#stdout.indexOf(`${head.marker}\n`)
      if (head === undefined || at === -1) return
      head.out.push(this.#stdout.subarray(0, at))
      this.#stdout = this.#stdout.subarray(at + head.marker.length + 1)
      head.outDone = true
      this.#finish()
    }
  }

  #onStderr(text: string): void {
    this.#stderr += text
    for (;;) {
      const head = this.#queue.find((p) => !p.errDone)
      const end = `${head?.marker}: unknown command\n`
      const at = head === undefined ? -1 : this.#stderr.indexOf(end)
      if (head === undefined || at === -1) break
      head.err = this.#stderr.slice(0, at)
      this.#stderr = this.#stderr.slice(at + end.length)
      head.errDone = true
      this.#finish()
    }
    if (this.#stderr.length > 64 * 1024) this.#stderr = this.#stderr.slice(-16 * 1024) // bounded
  }

  /** Settles the calls at the head of the queue whose two markers both arrived. */
  #finish(): void {
    while (this.#queue.length > 0 && this.#queue[0]!.outDone && this.#queue[0]!.errDone) {
      const done = this.#queue.shift()!
      clearTimeout(done.timer)
      done.timer = undefined // late data of a transfer must not arm it again
      const error = guestfsError(done.err)
      done.settle(error, Buffer.concat(done.out))
      if (this.#queue.length > 0) this.#arm(this.#queue[0]!)
    }
  }

  #fail(error: Error): void {
    if (this.#failure !== undefined) return
    this.#failure = error
    for (const pending of this.#queue.splice(0)) {
      clearTimeout(pending.timer)
      pending.settle(error, Buffer.alloc(0))
    }
  }

  #killGroup(): void {
    const pid = this.#child.pid
    if (pid === undefined) return
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // ESRCH: the group is already gone
    }
  }

  #stderrTail(): string {
    return this.#stderr.trim().split('\n').slice(-5).join(' / ') || 'no message'
  }
}

/** What a command printed on stderr, as an error; warnings alone are no failure. */
function guestfsError(text: string): FileRestoreError | undefined {
  const lines = text
    .split('\n')
    .map((line) => line.replace(/^\*stdin\*:\d+: /, '').trim())
    .filter((line) => line !== '' && !/^libguestfs: warning:/.test(line))
  if (lines.length === 0) return undefined
  const message = lines.join(' / ').replace(/libguestfs: error: /g, '')
  return new FileRestoreError('GUESTFS_ERROR', message, { details: { guestfs: message } })
}

export function launchFailure(message: string, cause?: unknown): FileRestoreError {
  return new FileRestoreError('APPLIANCE_FAILED', message, { cause, retryable: true })
}
