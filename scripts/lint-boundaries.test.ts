// Proves that every rule of `npm run lint` can fail, so that a config mistake cannot silently turn the
// architecture checks off. The layer rules (dependency-cruiser) run exactly as `npm run lint:layers` runs
// them, on a scratch copy of the repository's layout with one planted violation per rule; the file-size
// and construction rules (ESLint) run on planted source text.
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const CONFIG = '.dependency-cruiser.mjs'

interface Plant {
  readonly rule: string
  readonly file: string
  readonly code: string
}

// One planted violation per case: `file` imports what `rule` forbids.
const plants: Plant[] = [
  { rule: 'no-cycles', file: 'packages/lab/src/planted/a.ts', code: "import type { B } from './b.js'" },
  {
    rule: 'no-unresolvable',
    file: 'packages/lab/src/planted-private.ts',
    code: "import { x } from '@strata/core/vhd/footer'",
  },
  {
    rule: 'shared-imports-nothing',
    file: 'packages/core/src/shared/planted.ts',
    code: "from '../vhd/index.js'",
  },
  { rule: 'format-code-no-io', file: 'packages/core/src/vhd/planted.ts', code: "from 'node:fs/promises'" },
  {
    rule: 'format-code-no-io',
    file: 'packages/core/src/repository/format/planted.ts',
    code: "from 'node:net'",
  },
  { rule: 'format-code-no-io', file: 'packages/core/src/nbd/codec/planted.ts', code: "from 'tls'" },
  {
    rule: 'storage-never-imports-repository',
    file: 'packages/core/src/storage/planted.ts',
    code: "from '../repository/index.js'",
  },
  {
    rule: 'repository-knows-the-store-interface',
    file: 'packages/core/src/repository/planted-store.ts',
    code: "from '../storage/s3-store.js'",
  },
  {
    rule: 'repository-knows-the-store-interface',
    file: 'packages/core/src/repository/planted-sdk.ts',
    code: "from '@aws-sdk/client-s3'",
  },
  {
    rule: 'engine-through-index',
    file: 'packages/core/src/engine/planted.ts',
    code: "from '../nbd/client/client.js'",
  },
  {
    rule: 'nbd-client-and-server-apart',
    file: 'packages/core/src/nbd/client/planted.ts',
    code: "from '../server/server.js'",
  },
  {
    rule: 'nbd-client-and-server-apart',
    file: 'packages/core/src/nbd/server/planted.ts',
    code: "from '../client/client.js'",
  },
  { rule: 'web-never-imports-core', file: 'packages/web/src/planted.ts', code: "from '@strata/core'" },
  {
    rule: 'web-imports-only-the-contract',
    file: 'packages/web/src/planted-server.ts',
    code: "from '@strata/server'",
  },
  {
    rule: 'web-imports-only-the-contract',
    file: 'packages/web/src/planted-core.ts',
    code: "from '@strata/core'",
  },
  {
    rule: 'web-imports-only-the-contract',
    file: 'packages/web/src/views/PlantedView.vue',
    code: `<script setup lang="ts">\nimport { x } from '@strata/server'\n</script>`,
  },
  { rule: 'contract-is-a-leaf', file: 'packages/contract/src/planted.ts', code: "from '@strata/core'" },
  {
    rule: 'contract-is-a-leaf',
    file: 'packages/contract/src/planted-relative.ts',
    code: "from '../../server/src/index.js'",
  },
  {
    rule: 'contract-runs-in-browsers',
    file: 'packages/contract/src/planted-node.ts',
    code: "from 'node:fs/promises'",
  },
  { rule: 'contract-runs-in-browsers', file: 'packages/contract/src/planted-bare.ts', code: "from 'path'" },
  {
    rule: 'core-through-its-exports',
    file: 'packages/cli/src/planted.ts',
    code: "from '../../core/src/vhd/footer.js'",
  },
  {
    rule: 'core-by-package-name',
    file: 'packages/server/src/planted.ts',
    code: "from '../../core/src/vhd/index.js'",
  },
  {
    rule: 'no-test-code-in-production',
    file: 'packages/server/src/planted-testing.ts',
    code: "from '@strata/core/testing'",
  },
  {
    rule: 'no-test-code-in-production',
    file: 'packages/cli/src/commands/planted.ts',
    code: "from '../testing/repo-commands.js'",
  },
  {
    rule: 'no-test-code-in-production',
    file: 'packages/core/src/engine/planted-fake.ts',
    code: "from './testing/fake-run-deps.js'",
  },
]

// What the rules allow, planted beside the violations: none of these may be reported.
const allowed: Omit<Plant, 'rule'>[] = [
  { file: 'packages/core/src/repository/allowed.ts', code: "from '../storage/index.js'" },
  { file: 'packages/core/src/engine/allowed.ts', code: "from '../nbd/index.js'" },
  { file: 'packages/core/src/vhd/io/allowed.ts', code: "from 'node:fs/promises'" },
  { file: 'packages/cli/src/allowed.ts', code: "from '@strata/core/vhd'" },
  { file: 'packages/cli/src/allowed.test.ts', code: "from '@strata/core/testing'" },
  { file: 'packages/core/src/nbd/server/allowed.test.ts', code: "from '../client/client.js'" },
  { file: 'packages/core/src/engine/testing/allowed.ts', code: "from '../../repository/index.js'" },
  { file: 'bench/allowed.ts', code: "from '@strata/core/testing/tls'" },
  { file: 'scripts/allowed.ts', code: "from '@strata/core/testing'" },
  { file: 'packages/web/src/allowed.ts', code: "from '@strata/contract'" },
  { file: 'packages/core/src/engine/allowed-contract.ts', code: "from '@strata/contract'" },
  { file: 'packages/server/src/allowed-contract.ts', code: "from '@strata/contract'" },
]

// The files the planted imports reach (each a one-line module) besides core's package entry points.
const targets = [
  'packages/core/src/vhd/footer.ts',
  'packages/core/src/storage/s3-store.ts',
  'packages/core/src/nbd/client/client.ts',
  'packages/core/src/nbd/server/server.ts',
  'packages/cli/src/testing/repo-commands.ts',
  'packages/core/src/engine/testing/fake-run-deps.ts',
]

/** `from '…'` alone becomes a whole import statement; a Vue component is planted as written. */
const source = (code: string): string =>
  code.startsWith('<')
    ? `${code}\n`
    : `${code.startsWith('from') ? `import { x } ${code}` : code}\nexport const y = 1\nexport type B = number\n`

async function put(dir: string, file: string, text: string): Promise<void> {
  await mkdir(dirname(join(dir, file)), { recursive: true })
  await writeFile(join(dir, file), text)
}

/** A workspace package of the scratch layout: its real manifest, linked under node_modules, its entries. */
async function workspacePackage(dir: string, name: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(root, 'packages', name, 'package.json'), 'utf8')) as {
    exports: Record<string, { 'strata-source': string }>
  }
  await put(dir, `packages/${name}/package.json`, JSON.stringify(manifest))
  await mkdir(join(dir, 'node_modules/@strata'), { recursive: true })
  await symlink(join(dir, 'packages', name), join(dir, 'node_modules/@strata', name))
  for (const entry of Object.values(manifest.exports)) {
    await put(dir, join('packages', name, entry['strata-source']), 'export const x = 1\n')
  }
}

/** A scratch layout: the real config, core's, the contract's and the server's manifests and entry points,
 * the targets, the plants. */
async function layout(dir: string): Promise<void> {
  await copyFile(join(root, CONFIG), join(dir, CONFIG))
  await put(
    dir,
    'package.json',
    JSON.stringify({ private: true, type: 'module', workspaces: ['packages/*'] }),
  )
  for (const name of ['core', 'contract', 'server']) await workspacePackage(dir, name)
  for (const file of targets) await put(dir, file, 'export const x = 1\n')
  for (const plant of [...plants, ...allowed]) await put(dir, plant.file, source(plant.code))
  await put(
    dir,
    'packages/lab/src/planted/b.ts',
    "import type { y } from './a.js'\nexport type B = typeof y\n",
  )
}

interface Violation {
  readonly rule: string
  readonly from: string
}

/** Runs the `lint:layers` script's command in `dir`; returns its exit code and the violations it lists. */
async function lintLayers(dir: string): Promise<{ code: number; stdout: string; violations: Violation[] }> {
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
  const [bin, ...args] = manifest.scripts['lint:layers']!.split(' ')
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(join(root, 'node_modules/.bin', bin!), args, { cwd: dir }, (error, out) =>
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout: out }),
    )
  })
  const violations = [...stdout.matchAll(/^\s*error ([\w-]+): (\S+)/gm)].map((m) => ({
    rule: m[1]!,
    from: m[2]!,
  }))
  return { code, stdout, violations }
}

describe('the layer rules (dependency-cruiser)', () => {
  let scratch: string
  let result: Awaited<ReturnType<typeof lintLayers>>

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'strata-lint-'))
    await layout(scratch)
    result = await lintLayers(scratch)
  }, 120_000)
  afterAll(() => rm(scratch, { recursive: true, force: true }))

  it('fails the lint, having cruised every planted file', () => {
    expect(result.code).not.toBe(0)
    const cruised = /(\d+) modules, \d+ dependencies cruised/.exec(result.stdout)
    expect(Number(cruised?.[1])).toBeGreaterThanOrEqual(plants.length + allowed.length + targets.length)
  })

  for (const plant of plants) {
    it(`${plant.rule}: ${plant.file} ${plant.code}`, () => {
      expect(result.violations).toContainEqual({ rule: plant.rule, from: plant.file })
    })
  }

  it('allows what the rules allow', () => {
    const reported = new Set(result.violations.map((v) => v.from))
    expect(allowed.map((a) => a.file).filter((file) => reported.has(file))).toEqual([])
  })

  it('has a planted violation for every rule of the config', async () => {
    const config = (await import(join(root, CONFIG))) as { default: { forbidden: { name: string }[] } }
    const planted = new Set(plants.map((p) => p.rule))
    expect(config.default.forbidden.map((r) => r.name).filter((name) => !planted.has(name))).toEqual([])
  })

  it('runs in npm run lint over the whole repository', async () => {
    const { scripts } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    expect(scripts.lint).toContain('npm run --silent lint:layers')
    expect(scripts['lint:layers']).toMatch(/ packages bench scripts$/)
  })
})

describe('the file-size and construction rules (ESLint)', () => {
  // Planted files are in no tsconfig: they are parsed without type information (the rules checked here
  // need none), so the server's type-aware rules are off for them alone.
  const eslint = new ESLint({
    cwd: root,
    overrideConfig: [
      {
        files: ['**/planted.ts', '**/planted.test.ts'],
        languageOptions: { parserOptions: { projectService: false } },
        rules: {
          '@typescript-eslint/no-floating-promises': 'off',
          '@typescript-eslint/no-misused-promises': 'off',
          '@typescript-eslint/await-thenable': 'off',
        },
      },
    ],
  })

  async function rules(filePath: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath })
    return (result?.messages ?? []).map((m) => m.ruleId ?? m.message)
  }
  const lines = (n: number): string => 'export const x = 1\n' + '// line\n'.repeat(n - 1)

  it('fails a source file over 400 lines and a test file over 500', async () => {
    expect(await rules('packages/core/src/vhd/planted.ts', lines(401))).toContain('max-lines')
    expect(await rules('packages/core/src/vhd/planted.ts', lines(400))).toEqual([])
    expect(await rules('packages/web/src/planted.vue', `<template><p/></template>\n${lines(400)}`)).toContain(
      'max-lines',
    )
    expect(await rules('packages/core/src/vhd/planted.test.ts', lines(501))).toContain('max-lines')
    expect(await rules('packages/core/src/vhd/planted.test.ts', lines(500))).toEqual([])
  })

  it('lets only composition roots construct concrete stores and clients', async () => {
    const builds = [
      "import { LocalStore } from '../storage/index.js'\nexport const s = new LocalStore('/srv')\n",
      "import { openStore } from '../storage/index.js'\nexport const s = await openStore('/srv', {})\n",
      "import { NbdClient } from '../nbd/index.js'\nexport const c = await NbdClient.open({})\n",
      "import { XapiClient } from '../xapi/index.js'\nexport const c = new XapiClient({})\n",
    ]
    for (const code of builds) {
      expect(await rules('packages/core/src/repository/planted.ts', code)).toContain('no-restricted-syntax')
      expect(await rules('packages/server/src/routes/planted.ts', code)).toContain('no-restricted-syntax')
      expect(await rules('packages/cli/src/commands/planted.ts', code)).toEqual([])
      expect(await rules('packages/core/src/engine/worker-main.ts', code)).toEqual([])
      expect(await rules('packages/core/src/repository/planted.test.ts', code)).toEqual([])
    }
  })
})
