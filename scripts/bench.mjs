#!/usr/bin/env node
// npm run bench -- <name> [args]: runs bench/<name>.bench.ts against the sources (no build needed).
// Each benchmark measures Strata and the peer tool it is compared with in the same run and prints a ratio.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('../bench/', import.meta.url))
const [name, ...args] = process.argv.slice(2)
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
if (name === undefined || !existsSync(`${dir}${name}.bench.ts`)) {
  console.error(`usage: npm run bench -- <name>; available: ${available.join(', ') || 'none'}`)
  process.exit(2)
}
const result = spawnSync(
  process.execPath,
  ['--conditions=strata-source', '--import', 'tsx', `${dir}${name}.bench.ts`, ...args],
  { stdio: 'inherit' },
)
process.exit(result.status ?? 1)
