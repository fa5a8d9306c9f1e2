// Small helpers for tests that drive real daemons: free ports, commands with bounded time, polling.
import { execFile } from 'node:child_process'
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
