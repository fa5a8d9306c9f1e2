// Argument check shared by the stores' getRange(): a programming error, not a store failure.
export function assertRange(offset: number, length: number, key: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`invalid range ${offset}+${length} of object '${key}'`)
  }
}
