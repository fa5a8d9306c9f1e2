// The UI is a static bundle that the server serves at `/`; in development, `vite` proxies `/api` to a
// server on its default port (STRATA_API to point elsewhere).
import { defaultClientConditions, defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

export default defineConfig({
  plugins: [vue()],
  // @strata/contract (the API's schemas and types) is bundled from its TypeScript sources.
  resolve: { conditions: ['strata-source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: { proxy: { '/api': process.env.STRATA_API ?? 'http://127.0.0.1:8470' } },
})
