// The secrets of one repository among several a worker opens with different ones (a mirror's source and
// targets). The parent puts each repository's secrets in the worker's environment under its slot
// (STRATA_REPO_<slot>_PASSPHRASE, _KEY_FILE, _S3_ACCESS_KEY_ID, _S3_SECRET_ACCESS_KEY); opening that
// repository sees them under the usual names, and no other repository's.
import type { Env } from './worker-child.js'

const SECRETS = ['PASSPHRASE', 'KEY_FILE', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const

/** The variable that holds `secret` of the repository in `slot`. */
export const slotVariable = (slot: number, secret: (typeof SECRETS)[number]): string =>
  `STRATA_REPO_${slot}_${secret}`

/** `env` with the slot's secrets under the usual names, the job's own ones and every other slot's removed. */
export function slotEnv(env: Env, slot: number): Env {
  const out: Env = {}
  for (const [key, value] of Object.entries(env)) {
    if (/^STRATA_REPO_\d+_/.test(key)) continue
    if (SECRETS.some((s) => key === `STRATA_${s}`)) continue
    out[key] = value
  }
  for (const secret of SECRETS) {
    const value = env[slotVariable(slot, secret)]
    if (value !== undefined) out[`STRATA_${secret}`] = value
  }
  return out
}

/** The variables that give the repository in `slot` its secrets. */
export function slotSecrets(
  slot: number,
  secrets: { readonly passphrase?: string; readonly s3?: { accessKeyId: string; secretAccessKey: string } },
): Record<string, string> {
  const out: Record<string, string> = {}
  if (secrets.passphrase !== undefined) out[slotVariable(slot, 'PASSPHRASE')] = secrets.passphrase
  if (secrets.s3 !== undefined) {
    out[slotVariable(slot, 'S3_ACCESS_KEY_ID')] = secrets.s3.accessKeyId
    out[slotVariable(slot, 'S3_SECRET_ACCESS_KEY')] = secrets.s3.secretAccessKey
  }
  return out
}
