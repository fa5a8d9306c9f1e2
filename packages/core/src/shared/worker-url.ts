// Where to start a worker thread. Built, a worker module is the .js file beside its caller. From the
// TypeScript sources (tests, tsx), Node 20 cannot load TypeScript in a worker thread (loader hooks do
// not reach it), so the module is bundled once per process with esbuild (a development dependency)
// into node_modules/.cache, where its package imports still resolve.
import { mkdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'

const bundles = new Map<string, Promise<URL>>()

/** The URL of worker module `name` (no extension) that sits beside the module at `callerUrl`. */
export function workerUrl(callerUrl: string, name: string): Promise<URL> {
  if (!callerUrl.endsWith('.ts')) return Promise.resolve(new URL(`./${name}.js`, callerUrl))
  const entry = fileURLToPath(new URL(`./${name}.ts`, callerUrl))
  let bundle = bundles.get(entry)
  if (bundle === undefined) {
    bundle = bundleWorker(entry, name)
    bundles.set(entry, bundle)
  }
  return bundle
}

async function bundleWorker(entry: string, name: string): Promise<URL> {
  const { build } = await import('esbuild')
  const dir = fileURLToPath(new URL('../../node_modules/.cache/strata-workers/', import.meta.url))
  await mkdir(dir, { recursive: true })
  const outfile = `${dir}${name}-${process.pid}.mjs`
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'error',
  })
  return pathToFileURL(outfile)
}
