// Test support for the repo commands: runs a command object in-process the way main() would (without
// the rest of the CLI), and builds disk images with zeros, random data, repeats and a short tail.
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { Command } from '../command.js'

export async function runRepoCommand<R>(
  command: Command<R>,
  positionals: string[],
  values: Record<string, string | boolean | string[] | undefined>,
): Promise<{ result: R; stderr: string }> {
  let stderr = ''
  const sink = new Writable({ write: (_c, _e, cb) => cb() })
  const errors = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      stderr += chunk.toString()
      cb()
    },
  })
  const result = await command.run(
    { positionals, values },
    { stdout: sink, stderr: errors, signal: new AbortController().signal, json: true },
  )
  return { result, stderr }
}

/** `chunks` chunks of `chunkSize`: a third zeros, a third random, a third one repeated block; plus a tail. */
export function makeImage(chunks: number, chunkSize: number, tail = 12_345): Buffer {
  const repeated = randomBytes(chunkSize)
  const parts: Buffer[] = []
  for (let i = 0; i < chunks; i++) {
    parts.push(i % 3 === 0 ? Buffer.alloc(chunkSize) : i % 3 === 1 ? randomBytes(chunkSize) : repeated)
  }
  return Buffer.concat([...parts, randomBytes(tail)])
}
