// Lint: typescript-eslint's recommended rules, the file-size limit and who constructs concrete stores
// and clients. The import layers (and cycles) are dependency-cruiser's: .dependency-cruiser.cjs. Every
// rule here and there is an error, and scripts/lint-boundaries.test.ts proves that each can fail.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'
import pluginVue from 'eslint-plugin-vue'

/** Code that exists for tests: test files, test helpers, fixtures, test/ trees; the bench measures. */
const testCode = [
  '**/*.test.ts',
  '**/testing/**',
  '**/fixtures/**',
  'packages/*/test/**',
  'bench/**',
  'scripts/**',
]

// Small files (STYLE.md): a source file over 400 lines is two files. Tests get more room for their
// tables of cases, not for a second subject.
const maxLines = (max) => ['error', { max, skipBlankLines: false, skipComments: false }]

// Only composition roots construct concrete stores and clients: everything else takes an ObjectStore,
// an XapiClient or an NbdClient from its caller (STYLE.md: narrow interfaces in the constructor). The
// roots: each CLI command, the server's pool connections and demo setup, a job's worker (worker-main),
// the factories that own the construction (openStore, openRepository, connectPool, the NBD disk source),
// and test code.
const construction = {
  message:
    'Only composition roots construct concrete stores and clients (see docs/dev/architecture.md): take an ' +
    'ObjectStore, XapiClient or NbdClient from your caller, or open a repository with openRepository().',
}
const concrete = 'LocalStore|S3Store|MemoryStore|S3Client|XapiClient|NbdClient'
const constructsConcrete = [
  { selector: `NewExpression[callee.name=/^(${concrete})$/]`, ...construction },
  { selector: "CallExpression[callee.name='openStore']", ...construction },
  {
    selector: "CallExpression[callee.object.name='NbdClient'][callee.property.name='open']",
    ...construction,
  },
]
const compositionRoots = [
  'packages/cli/src/**',
  'packages/server/src/pools/pool-connections.ts',
  'packages/server/src/demo-setup.ts',
  'packages/server/src/xo-remotes/open-xo-remote.ts',
  'packages/core/src/engine/worker-main.ts',
  'packages/core/src/engine/pool-session.ts',
  'packages/core/src/open/open-repository.ts',
  'packages/core/src/storage/open-store.ts',
  'packages/core/src/storage/s3-store.ts',
  'packages/core/src/nbd/client/client.ts',
  'packages/core/src/disks/nbd-source.ts',
]

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
  // The web UI runs in browsers; its end-to-end tests (packages/web/test) run in Node and start the server.
  ...pluginVue.configs['flat/essential'].map((c) => ({
    ...c,
    files: c.files ?? ['packages/web/**/*.{ts,vue}'],
  })),
  {
    files: ['packages/web/src/**/*.{ts,vue}'],
    languageOptions: { globals: { ...globals.browser }, parserOptions: { parser: tseslint.parser } },
  },
  // The server's store is asynchronous (SQLite or PostgreSQL behind one seam): a call not awaited is a
  // write that may land after its answer, or a rejection nobody hears.
  {
    files: ['packages/server/src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  { files: ['**/*.{js,mjs,cjs,ts,vue}'], rules: { 'max-lines': maxLines(400) } },
  { files: ['**/*.test.ts', 'packages/*/test/**/*.ts'], rules: { 'max-lines': maxLines(500) } },
  {
    files: ['packages/*/src/**/*.{ts,vue}'],
    ignores: [...testCode, ...compositionRoots],
    rules: { 'no-restricted-syntax': ['error', ...constructsConcrete] },
  },
)
