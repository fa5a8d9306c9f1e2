// The UI as the end-to-end tests serve it: built from this checkout's sources (never an old dist), once
// per test run by vitest.global-setup.ts when a file of the run starts a stack (stack.ts serves it).
import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { build, defaultClientConditions } from 'vite'

/** What marks a test file as serving the UI; the global setup looks for it in the run's files. */
export const UI_MARKER = /\b(startStack|useStack)\(/

const webRoot = fileURLToPath(new URL('..', import.meta.url))

/** Builds the UI from its sources into `outDir`. */
export async function buildUi(outDir: string): Promise<void> {
  await build({
    root: webRoot,
    configFile: false,
    logLevel: 'warn',
    plugins: [vue()],
    // @strata/contract from its sources, as vite.config.ts does.
    resolve: { conditions: ['strata-source', ...defaultClientConditions] },
    build: { outDir, emptyOutDir: true, sourcemap: false, reportCompressedSize: false },
  })
}
