// Parent locators: where a differencing disk says its parent file is. vhd-tool writes 'MacX' file URLs
// with absolute dom0 paths, Windows tools write 'W2ru'/'W2ku' UTF-16LE paths; we write relative ones.
import { MAX_LOCATOR_LENGTH } from './constants.js'

/** The path a locator's payload names, or undefined when the platform is one we cannot read. */
export function decodeLocatorPath(platform: string, data: Uint8Array): string | undefined {
  if (data.length > MAX_LOCATOR_LENGTH) return undefined
  let text: string
  switch (platform) {
    case 'MacX':
      text = Buffer.from(data).toString('utf8')
      break
    case 'W2ru':
    case 'W2ku':
      text = Buffer.from(data).toString('utf16le')
      break
    case 'Wi2r':
    case 'Wi2k':
      text = Buffer.from(data).toString('latin1')
      break
    default:
      return undefined
  }
  text = text.replace(/\0+$/, '')
  if (platform === 'MacX') text = safeDecodeUri(text.replace(/^file:\/\//, ''))
  return text === '' ? undefined : text
}

function safeDecodeUri(text: string): string {
  try {
    return decodeURI(text)
  } catch {
    return text
  }
}

export interface LocatorPayload {
  platform: 'W2ru' | 'MacX'
  data: Uint8Array
}

/** Payloads naming a parent that sits beside the child, in the two forms other tools look for. */
export function relativeLocators(parentFileName: string): LocatorPayload[] {
  return [
    { platform: 'W2ru', data: Buffer.from(`.\\${parentFileName}`, 'utf16le') },
    { platform: 'MacX', data: Buffer.from(`file://./${encodeURI(parentFileName)}`, 'utf8') },
  ]
}
