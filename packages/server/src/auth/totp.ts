// TOTP (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second steps, 6 digits, the step before and after
// accepted to absorb small clock drift. The secret is shown to the user once as an otpauth:// URI.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

const STEP_SECONDS = 30
const DIGITS = 6
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

export function newTotpSecret(): string {
  return base32(randomBytes(20))
}

export function totpUri(secret: string, account: string, issuer = 'Strata'): string {
  const label = encodeURIComponent(`${issuer}:${account}`)
  return `otpauth://totp/${label}?secret=${secret}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=${DIGITS}&period=${STEP_SECONDS}`
}

export function totpCode(secret: string, timeMs: number): string {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / STEP_SECONDS)))
  const mac = createHmac('sha1', unbase32(secret)).update(counter).digest()
  const offset = mac[mac.length - 1]! & 0x0f
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** DIGITS
  return String(value).padStart(DIGITS, '0')
}

export function verifyTotp(secret: string, code: string, timeMs = Date.now()): boolean {
  return totpStep(secret, code, timeMs) !== undefined
}

/**
 * The time step (30-second counter) whose code `code` is, among the step of `timeMs` and its two
 * neighbours; undefined if none. Callers accept each step once per user (see Users.useTotpStep), so
 * that a code seen over a shoulder or in a proxy's log cannot be replayed while it is still valid.
 */
export function totpStep(secret: string, code: string, timeMs = Date.now()): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined
  const now = Math.floor(timeMs / 1000 / STEP_SECONDS)
  let found: number | undefined
  // Every candidate is compared (no early exit), so the time taken does not say which one matched.
  for (const step of [now - 1, now, now + 1]) {
    if (timingSafeEqual(Buffer.from(totpCode(secret, step * STEP_SECONDS * 1000)), Buffer.from(code)))
      found ??= step
  }
  return found
}

export function base32(bytes: Buffer): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

export function unbase32(text: string): Buffer {
  let bits = 0
  let value = 0
  const out: number[] = []
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = ALPHABET.indexOf(char)
    if (index === -1) continue
    value = (value << 5) | index
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255)
      bits -= 8
    }
  }
  return Buffer.from(out)
}
