// Runs the CLI's main() in-process for tests, collecting what it prints.
import { PassThrough } from 'node:stream'
import { main } from '../main.js'

export interface CliOutput {
  out: string
  err: string
}

/** Starts a command; `io` fills as it prints, `done` resolves to its exit code. */
export function startCli(
  argv: string[],
  signal = new AbortController().signal,
): { io: CliOutput; done: Promise<number> } {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const io: CliOutput = { out: '', err: '' }
  stdout.on('data', (d: Buffer) => (io.out += d.toString()))
  stderr.on('data', (d: Buffer) => (io.err += d.toString()))
  return { io, done: main(argv, { stdout, stderr }, signal) }
}

/** Runs a command to its end. */
export async function runCli(argv: string[], signal?: AbortSignal): Promise<CliOutput & { code: number }> {
  const { io, done } = startCli(argv, signal)
  const code = await done
  return { code, ...io }
}
