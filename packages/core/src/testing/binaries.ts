import { execFileSync } from 'node:child_process'

const found = new Map<string, string>()

/**
 * The absolute path of a binary a test needs. Throws (so the test fails) when it is missing: CI must
 * never pass by skipping. `scripts/install-system.sh` installs every binary the suite uses.
 */
export function requireBinary(name: string): string {
  const cached = found.get(name)
  if (cached !== undefined) return cached
  let path: string
  try {
    path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim()
  } catch {
    path = ''
  }
  if (path === '') {
    throw new Error(`required binary '${name}' is not installed; run scripts/install-system.sh`)
  }
  found.set(name, path)
  return path
}
