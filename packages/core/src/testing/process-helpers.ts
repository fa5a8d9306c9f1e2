// Small helpers for tests that drive real daemons: free ports, commands with bounded time, polling,
// stopping a daemon, and a watchdog that cleans up after a test runner that died.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it, so parallel runs differ). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

/** Runs a command to completion; rejects with its stderr on failure, on `signal` or after `timeoutMs`. */
export function run(
  command: string,
  args: string[],
  signal: AbortSignal,
  timeoutMs = 30_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { signal, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error)
          reject(
            new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`, { cause: error }),
          )
        else resolve(stdout)
      },
    )
  })
}

/** Polls `check` every 200 ms until it returns true; rejects naming `what` when `signal` fires. */
export async function waitFor(
  what: string,
  signal: AbortSignal,
  check: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    if (signal.aborted) throw new Error(`timed out waiting for ${what}`, { cause: signal.reason })
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** The last `lines` lines of every file in `dir`, for failure messages. */
export async function logTail(dir: string, lines = 30): Promise<string> {
  const files = await readdir(dir)
  const tails = await Promise.all(
    files.map(async (f) => {
      const text = await readFile(join(dir, f), 'utf8')
      return `--- ${f}\n${text.split('\n').slice(-lines).join('\n')}`
    }),
  )
  return tails.join('\n')
}

/**
 * A detached shell that, once this process is gone (a crashed or killed test runner), kills the
 * processes whose pids are listed in `pidFile` (one a line, added as they are spawned) and removes
 * `dir`. Kill it (SIGKILL) when stopping the daemons yourself.
 */
export function startWatchdog(pidFile: string, dir: string): ChildProcess {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; [ -f '${pidFile}' ] && kill -9 $(cat '${pidFile}') 2>/dev/null; sleep 1; rm -rf '${dir}'`
  const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' })
  watchdog.unref()
  return watchdog
}

/** Stops a child with `signal`, then SIGKILL if it has not exited after `graceMs`; resolves at its exit. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill(signal)
  })
}
