import { readFileSync } from 'node:fs'
import type { Command } from '../command.js'

interface VersionResult {
  version: string
  node: string
}

export const version: Command<VersionResult> = {
  path: ['version'],
  usage: 'version',
  summary: 'Print the version of Strata and of Node.js',
  positionals: 0,
  async run() {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    return { version: pkg.version, node: process.version }
  },
  format: (r) => `strata ${r.version} (node ${r.node})`,
}
