// `strata agent`: the process next to a remote pool (docs/agents.md). It connects out to the server
// (pinned TLS, the agent's token), runs that pool's jobs in worker processes here, and says on stdout,
// when it stops, how many bytes crossed its link. The token comes from STRATA_AGENT_TOKEN; --token is
// accepted with a warning, since every user of this machine can read a command line.
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { runAgent, type LinkCounters } from '@strata/core/agent'
import { parseFingerprint } from '@strata/core/xapi'
import { UsageError, type Command, type ParsedArgs } from '../command.js'
import { cliVersion } from './version.js'

interface AgentResult {
  server: string
  /** Bytes received from and sent to the server over the agent's link, summed over its connections. */
  link: LinkCounters
}

export const TOKEN_FLAG_WARNING =
  'warning: --token is deprecated: every user of this machine can read a command line (ps); ' +
  'set STRATA_AGENT_TOKEN instead'

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

export const agentCommand: Command<AgentResult> = {
  path: ['agent'],
  usage: 'agent --server URL --fingerprint SHA256 [--data DIR] [--name NAME]   (token: STRATA_AGENT_TOKEN)',
  summary: "Run this machine's pools' backups for a Strata server, connecting out to it (until interrupted)",
  positionals: 0,
  options: {
    server: { type: 'string' },
    token: { type: 'string' },
    fingerprint: { type: 'string' },
    data: { type: 'string' },
    'data-dir': { type: 'string' },
    name: { type: 'string' },
  },
  async run(args, ctx) {
    const server = serverUrl(args)
    const fingerprint = fingerprintOf(args)
    const token = agentToken(args, ctx.stderr)
    const link: LinkCounters = { read: 0, written: 0 }
    const say = (line: string): boolean => ctx.stderr.write(`${new Date().toISOString()} ${line}\n`)
    const name = str(args.values.name)
    await runAgent({
      serverUrl: server,
      token,
      fingerprint,
      dataDir: dataDir(args),
      ...(name === undefined ? {} : { name }),
      version: cliVersion(),
      signal: ctx.signal,
      log: say,
      counters: link,
    })
    return { server, link }
  },
  format: (r) =>
    `agent stopped: ${r.link.read} bytes received from and ${r.link.written} bytes sent to ${r.server}`,
}

function serverUrl(args: ParsedArgs): string {
  const given = str(args.values.server)
  if (given === undefined)
    throw new UsageError('--server URL is required (https://host:port of the Strata server)')
  let url: URL
  try {
    url = new URL(given)
  } catch {
    throw new UsageError(`--server: '${given.slice(0, 200)}' is not a URL`)
  }
  if (url.protocol !== 'https:')
    throw new UsageError('--server: an agent connects over HTTPS only (https://...)')
  return url.origin
}

function fingerprintOf(args: ParsedArgs): string {
  const given = str(args.values.fingerprint)
  if (given === undefined)
    throw new UsageError(
      "--fingerprint is required: the server's, as POST /api/agents or its start printed it",
    )
  try {
    return parseFingerprint(given)
  } catch (error) {
    throw new UsageError(`--fingerprint: ${(error as Error).message}`)
  }
}

function agentToken(args: ParsedArgs, stderr: NodeJS.WritableStream): string {
  const inline = str(args.values.token)
  if (inline !== undefined) {
    stderr.write(`${TOKEN_FLAG_WARNING}\n`)
    return inline
  }
  const env = str(process.env.STRATA_AGENT_TOKEN)
  if (env === undefined) throw new UsageError('set STRATA_AGENT_TOKEN to the token POST /api/agents gave')
  return env
}

/** --data (or --data-dir), else STRATA_HOME, else ~/.strata-agent. */
function dataDir(args: ParsedArgs): string {
  const a = str(args.values.data)
  const b = str(args.values['data-dir'])
  if (a !== undefined && b !== undefined) throw new UsageError('give --data or --data-dir, not both')
  return resolve(a ?? b ?? str(process.env.STRATA_HOME) ?? join(homedir(), '.strata-agent'))
}
