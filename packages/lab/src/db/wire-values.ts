// Values with a fixed wire form: the null ref, the epoch datetime, xapi's datetime format.
export const NULL = 'OpaqueRef:NULL'
export const EPOCH = '19700101T00:00:00Z'

export function xapiDate(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-]/g, '')
    .replace(/\.\d+Z$/, 'Z')
}
