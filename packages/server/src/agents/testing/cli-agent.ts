// The built CLI's `strata agent` as a child process of a test (`npm run build` first), its token in its
// environment as an admin would pass it; what it says on stderr is kept (the last 8000 characters) for
// the test's failure messages.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../../../cli/bin/strata.js', import.meta.url))

export interface CliAgent {
  readonly process: ChildProcess
  /** What it wrote on stderr so far. */
  said(): string
  /** Ends it (SIGTERM, or SIGKILL for a crash) and waits for its exit. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

export function cliAgentBuilt(): boolean {
  return existsSync(BIN.replace('bin/strata.js', 'dist/commands/agent.js'))
}

export function startCliAgent(
  agent: { token: string; serverUrl: string; fingerprint: string },
  dataDir: string,
  name: string,
): CliAgent {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'agent',
      '--server',
      agent.serverUrl,
      '--fingerprint',
      agent.fingerprint,
      '--data',
      dataDir,
      '--name',
      name,
    ],
    { env: { ...process.env, STRATA_AGENT_TOKEN: agent.token }, stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    process: child,
    said: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}
