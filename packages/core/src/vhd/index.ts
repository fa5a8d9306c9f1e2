// VHD codec (Microsoft VHD 1.0: fixed, dynamic, differencing). Pure format code (footer, header, BAT,
// bitmaps, locators), a streaming reader for XAPI-style streams (metadata first, then blocks one at a
// time), a random-access reader and a chain reader for files, and a streaming writer. File access lives
// in io/. Every malformed input ends in a VhdError with a stable code.
export * from './constants.js'
export * from './errors.js'
export { formatUuid, parseUuid, isZero } from './bytes.js'
export * from './footer.js'
export * from './header.js'
export * from './geometry.js'
export * from './bitmap.js'
export * from './locators.js'
export { parseBat, encodeBat } from './bat.js'
export * from './stream-reader.js'
export * from './disk.js'
export * from './memory-access.js'
export * from './chain.js'
export * from './writer.js'
export * from './info.js'
export * from './io/index.js'
