// The file browser's pure parts: a folder's breadcrumb and the selection kept across folders and
// searches (paths in the order they were chosen, a folder's content left out once the folder is in).

/** '/a/b' → [{name: '/', path: '/'}, {name: 'a', path: '/a'}, {name: 'b', path: '/a/b'}]. */
export function breadcrumb(path: string): { name: string; path: string }[] {
  const parts = path.split('/').filter((p) => p !== '')
  return [
    { name: '/', path: '/' },
    ...parts.map((name, i) => ({ name, path: `/${parts.slice(0, i + 1).join('/')}` })),
  ]
}

export function parentOf(path: string): string {
  const parts = path.split('/').filter((p) => p !== '')
  return `/${parts.slice(0, -1).join('/')}`
}

const within = (path: string, folder: string) =>
  folder === '/' ? path !== '/' : path.startsWith(`${folder}/`)

/** The selection with `path` added (what lies inside it dropped) or, if it is in already, removed. */
export function toggle(selection: readonly string[], path: string): string[] {
  if (selection.includes(path)) return selection.filter((p) => p !== path)
  if (selection.some((folder) => within(path, folder))) return [...selection]
  return [...selection.filter((p) => !within(p, path)), path]
}

/** Whether `path` is chosen, itself or through a folder that holds it. */
export function isSelected(selection: readonly string[], path: string): boolean {
  return selection.some((p) => p === path || within(path, p))
}
