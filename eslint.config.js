// Lint: typescript-eslint's recommended rules plus the import boundaries of STYLE.md.
// A boundary violation is an error: the architecture is only real if the build enforces it.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

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
  {
    // shared/ is the bottom layer: it imports nothing from the rest of core.
    files: ['packages/core/src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../*', '!../shared/*'], message: 'shared/ imports nothing from core.' }] },
      ],
    },
  },
  {
    // Format code: bytes in, values out.
    files: [
      'packages/core/src/vhd/**/*.ts',
      'packages/core/src/**/format/**/*.ts',
      'packages/core/src/**/codec/**/*.ts',
    ],
    ignores: ['**/*.test.ts', '**/*.integration.test.ts', 'packages/core/src/vhd/io/**'],
    rules: { 'no-restricted-imports': ['error', { paths: noIo('Format code') }] },
  },
  {
    // Object stores never know the repository that sits on them.
    files: ['packages/core/src/storage/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/repository/**', '**/repository'],
              message: 'storage/ must not import repository/.',
            },
          ],
        },
      ],
    },
  },
  {
    // The repository knows the store interface, never a concrete store.
    files: ['packages/core/src/repository/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.integration.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/storage/*', '!**/storage/index.js', '@aws-sdk/*'],
              message:
                'repository/ uses storage/ only through its index (the interface), never S3 or a concrete store.',
            },
          ],
        },
      ],
    },
  },
  {
    // The engine reaches other modules only through their public surface.
    files: ['packages/core/src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*/*', '!../*/index.js'],
              message: 'engine/ imports other modules through their index.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    // The web UI talks to the server's API; it never imports the domain.
    files: ['packages/web/**/*.ts', 'packages/web/**/*.vue'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['@strata/core', '@strata/core/*'], message: 'web/ imports only API types.' }],
        },
      ],
    },
  },
  {
    // Packages other than core's own composition use core's public surface, never its files.
    files: ['packages/!(core)/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/core/src/**', '@strata/core/src/**'],
              message: 'Import @strata/core, not its files.',
            },
          ],
        },
      ],
    },
  },
)
