// What the server sealed before secrets were bound to their row ('v1:', no associated data): for the
// tests of the migration that re-seals them.
import { createCipheriv, randomBytes } from 'node:crypto'

export function sealUnbound(key: Buffer, plain: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return 'v1:' + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
}
