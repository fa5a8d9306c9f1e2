// Choosing the footer of a VHD file. Dynamic disks carry a copy at offset 0 and the footer at the end;
// fixed disks only the latter. Like qemu we trust the copy at 0 first (a file cut short loses its end),
// and in strict mode both must be intact and agree.
import { FOOTER_SIZE } from './constants.js'
import { VhdError, VhdErrorCode } from './errors.js'
import { parseFooter, sameDisk, type ParsedStruct, type VhdFooter } from './footer.js'
import type { RandomAccess } from './random-access.js'

export interface VhdChecks {
  footer: boolean
  /** The copy at offset 0; undefined for fixed disks (they have none). */
  footerCopy: boolean | undefined
  header: boolean | undefined
  /** Both footers describe the same disk. */
  footersMatch: boolean | undefined
}

type Attempt = ParsedStruct<VhdFooter> | { error: unknown }

export async function readFooters(
  access: RandomAccess,
  name: string,
  strict: boolean,
  signal?: AbortSignal,
): Promise<{ footer: VhdFooter; checks: VhdChecks }> {
  if (access.size < FOOTER_SIZE) {
    throw new VhdError(VhdErrorCode.truncated, `${name}: ${access.size} bytes is too small for a VHD`)
  }
  const head = attempt(await access.read(0, FOOTER_SIZE, signal), `${name} footer copy`)
  const tail = attempt(await access.read(access.size - FOOTER_SIZE, FOOTER_SIZE, signal), `${name} footer`)
  if ('value' in head && head.value.diskType !== 'fixed') {
    const tailOk = 'value' in tail && tail.checksumOk
    const match = 'value' in tail && sameDisk(head.value, tail.value)
    if (strict) {
      if (!head.checksumOk) throw badChecksum(`${name} footer copy`)
      if (!('value' in tail)) throw trailingMissing(name, tail.error)
      if (!tail.checksumOk) throw badChecksum(`${name} footer`)
      if (!match)
        throw new VhdError(VhdErrorCode.footerMismatch, `${name}: the two footers describe different disks`)
    }
    return {
      footer: head.value,
      checks: { footer: tailOk, footerCopy: head.checksumOk, header: undefined, footersMatch: match },
    }
  }
  if (!('value' in tail)) throw 'value' in head ? trailingMissing(name, tail.error) : tail.error
  if (strict && !tail.checksumOk) throw badChecksum(`${name} footer`)
  if (tail.value.diskType !== 'fixed' && strict) {
    throw new VhdError(
      VhdErrorCode.invalid,
      `${name}: ${tail.value.diskType} disk without its footer copy at offset 0`,
    )
  }
  return {
    footer: tail.value,
    checks: {
      footer: tail.checksumOk,
      footerCopy: tail.value.diskType === 'fixed' ? undefined : false,
      header: undefined,
      footersMatch: undefined,
    },
  }
}

function attempt(bytes: Uint8Array, what: string): Attempt {
  try {
    return parseFooter(bytes, what, false)
  } catch (error) {
    return { error }
  }
}

const badChecksum = (what: string): VhdError =>
  new VhdError(VhdErrorCode.badChecksum, `${what}: checksum mismatch`)

function trailingMissing(name: string, cause: unknown): VhdError {
  return new VhdError(
    VhdErrorCode.truncated,
    `${name}: no valid footer at the end of the file (cut short?)`,
    { cause },
  )
}
