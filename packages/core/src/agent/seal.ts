// What a run needs that is secret (the pool's password, the repository's passphrase and S3 keys)
// travels sealed for one agent: AES-256-GCM under a key derived from that agent's token, which only the
// agent holds in clear (the server keeps the derived key, itself sealed at rest, and the token's hash).
// Another agent, or whoever reads the link after TLS, cannot open it; the run's id is bound in as
// associated data, so a sealed order replayed for another run does not open either.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { AgentError } from './agent-errors.js'

const INFO = 'strata-agent-seal-v1'

/** The sealing key of the agent that holds `token` (32 bytes). */
export function agentSealKey(token: string, agentId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), agentId, INFO, 32))
}

export function sealForAgent(key: Buffer, runId: string, plain: unknown): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(runId, 'utf8'))
  const body = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
}

export function openForAgent(key: Buffer, runId: string, sealed: string): unknown {
  const bytes = Buffer.from(sealed, 'base64')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12))
    decipher.setAAD(Buffer.from(runId, 'utf8')).setAuthTag(bytes.subarray(12, 28))
    const plain = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()])
    return JSON.parse(plain.toString('utf8'))
  } catch (error) {
    throw new AgentError(
      'AGENT_SEAL_INVALID',
      `the order of run '${runId}' does not open with this agent's key`,
      {
        cause: error,
      },
    )
  }
}
