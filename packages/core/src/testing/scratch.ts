import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Scratch {
  readonly dir: string
  path(...parts: string[]): string
  [Symbol.asyncDispose](): Promise<void>
}

/** A fresh directory under the system temp dir, removed on dispose. */
export async function scratchDir(prefix = 'strata-test-'): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return {
    dir,
    path: (...parts) => join(dir, ...parts),
    [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }),
  }
}
