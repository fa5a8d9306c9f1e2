// The import boundaries of STYLE.md are enforced by eslint.config.js; this proves each rule can fail,
// so that a config mistake cannot silently turn the architecture checks off.
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'

const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname })

async function violations(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('import boundaries', () => {
  const cases: [string, string, string][] = [
    [
      'format code imports no I/O',
      'packages/core/src/vhd/footer.ts',
      "import { readFile } from 'node:fs/promises'",
    ],
    [
      'repository format code imports no I/O',
      'packages/core/src/repository/format/index-codec.ts',
      "import { Socket } from 'node:net'",
    ],
    [
      'shared imports nothing from core',
      'packages/core/src/shared/bytes.ts',
      "import { x } from '../vhd/index.js'",
    ],
    [
      'storage never imports repository',
      'packages/core/src/storage/s3.ts',
      "import { x } from '../repository/index.js'",
    ],
    [
      'repository sees only the storage interface',
      'packages/core/src/repository/repo.ts',
      "import { S3Store } from '../storage/s3-store.js'",
    ],
    [
      'repository never imports the AWS SDK',
      'packages/core/src/repository/repo.ts',
      "import { S3Client } from '@aws-sdk/client-s3'",
    ],
    [
      'engine goes through index.ts',
      'packages/core/src/engine/run.ts',
      "import { x } from '../nbd/client.js'",
    ],
    ['web never imports core', 'packages/web/src/api.ts', "import { x } from '@strata/core'"],
    ['web never imports the server', 'packages/web/src/api.ts', "import { x } from '@strata/server'"],
    [
      'contract imports no other Strata package',
      'packages/contract/src/job-file.ts',
      "import { x } from '@strata/core'",
    ],
    [
      'contract imports no Node module (browsers load it)',
      'packages/contract/src/job-file.ts',
      "import { readFile } from 'node:fs/promises'",
    ],
    ['contract imports no bare Node module', 'packages/contract/src/job-file.ts', "import { x } from 'path'"],
    [
      'packages never reach into core files',
      'packages/cli/src/x.ts',
      "import { x } from '../../core/src/vhd/footer.js'",
    ],
  ]
  for (const [name, file, code] of cases) {
    it(name, async () => {
      expect(await violations(file, `${code}\nexport const y = 1\n`)).not.toEqual([])
    })
  }

  it('allows what the rules allow', async () => {
    expect(
      await violations('packages/core/src/repository/repo.ts', "import { x } from '../storage/index.js'"),
    ).toEqual([])
    expect(
      await violations('packages/core/src/engine/run.ts', "import { x } from '../nbd/index.js'"),
    ).toEqual([])
    expect(
      await violations('packages/core/src/vhd/io/file.ts', "import { open } from 'node:fs/promises'"),
    ).toEqual([])
    expect(
      await violations('packages/web/src/api.ts', "import type { Job } from '@strata/contract'"),
    ).toEqual([])
    expect(
      await violations('packages/core/src/engine/job.ts', "import { checkJobFile } from '@strata/contract'"),
    ).toEqual([])
  })
})
