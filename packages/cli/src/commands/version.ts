// `strata version` (also `strata --version`): this Strata, the repository format it reads and writes
// (from the format's constants: a repository of another version is refused, not guessed at), and Node.js.
import { readFileSync } from 'node:fs'
import {
  ENVELOPE_VERSION,
  INDEX_VERSION,
  REPOSITORY_FORMAT,
  REPOSITORY_VERSION,
  SEAL_VERSION,
} from '@strata/core/repository'
import type { Command } from '../command.js'

interface FormatVersions {
  /** The versions this Strata opens; any other is refused (UNSUPPORTED_VERSION). */
  reads: number[]
  /** The version it writes. */
  writes: number
}

interface VersionResult {
  version: string
  repository: FormatVersions & {
    format: string
    /** The versioned objects inside a repository: envelope (every object), disk index, config seal. */
    objects: Record<'envelope' | 'index' | 'seal', FormatVersions>
  }
  node: string
}

/** This Strata's version (the CLI package's). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

const exactly = (v: number): FormatVersions => ({ reads: [v], writes: v })

export const version: Command<VersionResult> = {
  path: ['version'],
  usage: 'version',
  summary: 'Print the version of Strata, the repository format versions it reads and writes, and Node.js',
  positionals: 0,
  async run() {
    return {
      version: cliVersion(),
      repository: {
        format: REPOSITORY_FORMAT,
        ...exactly(REPOSITORY_VERSION),
        objects: {
          envelope: exactly(ENVELOPE_VERSION),
          index: exactly(INDEX_VERSION),
          seal: exactly(SEAL_VERSION),
        },
      },
      node: process.version,
    }
  },
  format: (r) => {
    const list = (v: FormatVersions) => `reads ${v.reads.join(', ')}, writes ${v.writes}`
    const objects = Object.entries(r.repository.objects).map(([name, v]) => `${name} ${list(v)}`)
    return [
      `strata ${r.version}`,
      `repository format: ${r.repository.format} version ${r.repository.writes} (${list(r.repository)})`,
      `  objects: ${objects.join('; ')}`,
      `node ${r.node}`,
    ].join('\n')
  },
}
