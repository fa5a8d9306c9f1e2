// Which unknown paths may get the web UI's shell (index.html) without a session: plain page paths of
// the UI's history routing. Anything a client could mean as the API, or spells oddly (percent escapes,
// absolute-form targets, doubled slashes, dot segments, another case of "api"), is not one: it gets the
// guard's 401 instead, so that an anonymous caller learns nothing from how an unknown path is answered.
const PLAIN = /^\/[A-Za-z0-9._~/-]*$/

export function isUiPagePath(target: string): boolean {
  const path = target.split('?', 1)[0]!
  if (!PLAIN.test(path)) return false
  const segments = path.slice(1).split('/')
  const odd = segments.some((s, i) => s === '.' || s === '..' || (s === '' && i < segments.length - 1))
  return !odd && segments[0]!.toLowerCase().replace(/[.~]+$/, '') !== 'api'
}
