// Lint: typescript-eslint's recommended rules plus the import boundaries of STYLE.md.
// A boundary violation is an error: the architecture is only real if the build enforces it.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'
import pluginVue from 'eslint-plugin-vue'
import { builtinModules } from 'node:module'

const io = [
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:tls',
  'node:http',
  'node:https',
  'node:child_process',
]
const noIo = (what) => io.map((name) => ({ name, message: `${what} is pure: no I/O modules.` }))

const sharedOnly = { group: ['../*', '!../shared/*'], message: 'shared/ imports nothing from core.' }
const storageNoRepository = {
  group: ['**/repository/**', '**/repository'],
  message: 'storage/ must not import repository/.',
}
const repositoryStoreInterfaceOnly = {
  group: ['**/storage/*', '!**/storage/index.js', '@aws-sdk/*'],
  message: 'repository/ uses storage/ only through its index (the interface), never S3 or a concrete store.',
}
const engineThroughIndex = {
  group: ['../*/*', '!../*/index.js'],
  message: 'engine/ imports other modules through their index.ts.',
}
const coreThroughExports = {
  group: ['**/core/src/**', '@strata/core/src/**'],
  message: 'Import @strata/core, not its files.',
}
const webNoCore = {
  group: ['@strata/core', '@strata/core/*', '@strata/server', '@strata/lab'],
  message: 'web/ imports only the API contract (@strata/contract).',
}
// The contract is a leaf that browsers load too: TypeBox and croner only, no Strata package, no Node module.
const contractLeaf = [
  { group: ['@strata/*', '../../*'], message: 'contract/ imports no other Strata package.' },
  { group: ['node:*', ...builtinModules], message: 'contract/ runs in browsers: no Node.js module.' },
]

function restrict(files, { paths = [], patterns = [], ignores = [] }) {
  return { files, ignores, rules: { 'no-restricted-imports': ['error', { paths, patterns }] } }
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.strata/**', 'tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  // Each block below sets the whole no-restricted-imports rule for its files (a later block replaces an
  // earlier one's options), so blocks for nested areas repeat the restrictions of the enclosing area.
  restrict(['packages/core/src/shared/**/*.ts'], { patterns: [sharedOnly] }),
  restrict(
    [
      'packages/core/src/vhd/**/*.ts',
      'packages/core/src/**/format/**/*.ts',
      'packages/core/src/**/codec/**/*.ts',
    ],
    {
      paths: noIo('Format code'),
      ignores: ['**/*.test.ts', 'packages/core/src/vhd/io/**'],
    },
  ),
  restrict(['packages/core/src/storage/**/*.ts'], { patterns: [storageNoRepository] }),
  restrict(['packages/core/src/repository/**/*.ts'], {
    patterns: [repositoryStoreInterfaceOnly],
    ignores: ['**/*.test.ts'],
  }),
  restrict(['packages/core/src/repository/**/format/**/*.ts'], {
    paths: noIo('Format code'),
    patterns: [repositoryStoreInterfaceOnly],
    ignores: ['**/*.test.ts'],
  }),
  restrict(['packages/core/src/engine/**/*.ts'], { patterns: [engineThroughIndex] }),
  restrict(['packages/!(core)/**/*.ts'], { patterns: [coreThroughExports] }),
  restrict(['packages/contract/**/*.ts'], { patterns: [coreThroughExports, ...contractLeaf] }),
  // The web UI runs in browsers; its end-to-end tests (packages/web/test) run in Node and start the server.
  ...pluginVue.configs['flat/essential'].map((c) => ({
    ...c,
    files: c.files ?? ['packages/web/**/*.{ts,vue}'],
  })),
  {
    files: ['packages/web/src/**/*.{ts,vue}'],
    languageOptions: { globals: { ...globals.browser }, parserOptions: { parser: tseslint.parser } },
  },
  restrict(['packages/web/**/*.ts', 'packages/web/**/*.vue'], {
    patterns: [coreThroughExports, webNoCore],
    ignores: ['packages/web/test/**'],
  }),
)
