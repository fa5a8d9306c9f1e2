// Every sealed column of the database, in one place: the stores seal and open through these, and
// the re-sealing migration (db/reseal-secrets.ts) binds each of them to its row.
import type { SealedField } from './secret-box.js'

export const SEALED_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  users: ['totp_secret', 'totp_pending'],
  pools: ['password_sealed'],
  repositories: ['passphrase_sealed', 's3_sealed'],
  smtp: ['password_sealed'],
  webhooks: ['secret_sealed'],
  xo_remotes: ['key_sealed', 's3_sealed'],
  agents: ['seal_key_sealed'],
}

export const totpField = (userId: string, column: 'totp_secret' | 'totp_pending'): SealedField => ({
  table: 'users',
  row: userId,
  column,
})

export const poolPasswordField = (poolId: string): SealedField => ({
  table: 'pools',
  row: poolId,
  column: 'password_sealed',
})

export const repositoryField = (
  repositoryId: string,
  column: 'passphrase_sealed' | 's3_sealed',
): SealedField => ({ table: 'repositories', row: repositoryId, column })

export const smtpPasswordField: SealedField = { table: 'smtp', row: 'smtp', column: 'password_sealed' }

export const webhookSecretField = (webhookId: string): SealedField => ({
  table: 'webhooks',
  row: webhookId,
  column: 'secret_sealed',
})

export const xoRemoteField = (remoteId: string, column: 'key_sealed' | 's3_sealed'): SealedField => ({
  table: 'xo_remotes',
  row: remoteId,
  column,
})

export const agentSealKeyField = (agentId: string): SealedField => ({
  table: 'agents',
  row: agentId,
  column: 'seal_key_sealed',
})
