// Which XAPI calls have no effect, and so may be sent again after a connection error: whether or not the
// first one ran, running it twice changes nothing.

/** `*.get_*` (records, fields, `get_all*`, `get_by_*`) and system.listMethods. */
export function isReadOnlyCall(method: string): boolean {
  return /^[A-Za-z_]+\.get_/.test(method) || method === 'system.listMethods'
}
