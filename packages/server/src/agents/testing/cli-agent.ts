// The built CLI's `strata agent` as a child process of a test (`npm run build` first), its token in its
// environment as an admin would pass it; what it says on stderr is kept (the last 8000 characters) for
// the test's failure messages. agentOnline() is the agents' tests' one way to have an agent: made on the
// server, given its pools, started, and online.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { firstAgentOnline, type PinnedAdmin } from './pinned-admin.js'

const BIN = fileURLToPath(new URL('../../../../cli/bin/strata.js', import.meta.url))

/** Starts `argv` (the node binary first) with `env` added to the test's: here, or elsewhere (a network namespace). */
export type SpawnAgent = (argv: string[], env: Record<string, string>) => ChildProcess

const spawnHere: SpawnAgent = (argv, env) =>
  spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })

export interface CliAgentOptions {
  /** More arguments of `strata agent` (`--json`). */
  readonly args?: readonly string[]
  readonly spawn?: SpawnAgent
}

/** An agent as POST /api/agents answers it. */
export interface NewAgent {
  readonly id: string
  readonly token: string
  readonly serverUrl: string
  readonly fingerprint: string
}

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
  agent: Pick<NewAgent, 'token' | 'serverUrl' | 'fingerprint'>,
  dataDir: string,
  name: string,
  { args = [], spawn = spawnHere }: CliAgentOptions = {},
): CliAgent {
  const child = spawn(
    [process.execPath, BIN, 'agent', ...args, '--server', agent.serverUrl, '--fingerprint', agent.fingerprint,
      '--data', dataDir, '--name', name], // prettier-ignore
    { STRATA_AGENT_TOKEN: agent.token },
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

export interface AgentOnlineOptions extends CliAgentOptions {
  /** Its name (default 'site-b'). */
  readonly name?: string
  /** The pools whose work it takes (PUT /api/pools/:id/agent). */
  readonly pools?: readonly string[]
}

/**
 * Makes an agent on the server, gives it `pools`, starts the built CLI's `strata agent` for it with its
 * data in `dataDir`, and waits until the server lists it online. One that does not come online is stopped,
 * and what it said is in the error. The test's first agent (the server's list is read at its first row).
 */
export async function agentOnline(
  admin: PinnedAdmin,
  dataDir: string,
  { name = 'site-b', pools = [], ...options }: AgentOnlineOptions = {},
): Promise<{ agent: NewAgent; cli: CliAgent }> {
  const made = await admin.request<NewAgent>('POST', '/api/agents', { name })
  if (made.status !== 201)
    throw new Error(`making agent '${name}': ${made.status} ${JSON.stringify(made.body)}`)
  const agent = made.body
  for (const pool of pools) {
    const given = await admin.request('PUT', `/api/pools/${pool}/agent`, { agentId: agent.id })
    if (given.status !== 200) throw new Error(`giving pool ${pool} to agent '${name}': ${given.status}`)
  }
  const cli = startCliAgent(agent, dataDir, name, options)
  try {
    await firstAgentOnline(admin)
  } catch (error) {
    await cli.stop('SIGKILL')
    throw new Error(`${String(error)}; the agent said: ${cli.said()}`, { cause: error })
  }
  return { agent, cli }
}
