// The layer table of docs/dev/architecture.md, as `npm run lint` enforces it (depcruise). Every rule here is
// an error, and scripts/lint-boundaries.test.ts plants a violation of each to prove it still fails.
// Paths are relative to the repository root; type-only imports count (a type is a dependency too).

import { readFileSync } from 'node:fs'

const CORE = '^packages/core/src/'
/** Code that exists for tests: test files, test helpers (any testing/ folder), fixtures, test/ trees. */
const TEST = '(\\.test\\.ts$|(^|/)testing/|(^|/)fixtures/|^packages/[^/]+/test/)'
/** Node modules that reach files, sockets or processes. */
const IO = '^(node:)?(fs|fs/promises|net|tls|http|https|http2|dgram|child_process|worker_threads)$'
/** Format code: bytes in, values out. The VHD codec is all format code except its io/ folder. */
const FORMAT = `${CORE}(vhd/(?!io/)|.+/format/|.+/codec/)`
/** What other packages may import from core: the files its package.json "exports" names, nothing else. */
const coreManifest = JSON.parse(readFileSync(new URL('packages/core/package.json', import.meta.url), 'utf8'))
const CORE_ENTRY = `^(${Object.values(coreManifest.exports)
  .map((entry) => `packages/core/${entry['strata-source'].slice(2)}`.replace(/[.]/g, '\\.'))
  .join('|')})$`

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'Every import resolves (a core file outside its package exports does not).',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Modules form a tree of layers: no module depends on itself through others (types included).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-imports-nothing',
      severity: 'error',
      comment: 'shared/ is the bottom layer of core: it imports nothing else from core.',
      from: { path: `${CORE}shared/` },
      to: { path: CORE, pathNot: `${CORE}shared/` },
    },
    {
      name: 'format-code-no-io',
      severity: 'error',
      comment: 'Format code (vhd/ but vhd/io/, any format/ or codec/ folder) is pure: no I/O modules.',
      from: { path: FORMAT, pathNot: TEST },
      to: { dependencyTypes: ['core'], path: IO },
    },
    {
      name: 'storage-never-imports-repository',
      severity: 'error',
      comment: 'storage/ sits below repository/: stores know nothing of the repository format.',
      from: { path: `${CORE}storage/` },
      to: { path: `${CORE}repository/` },
    },
    {
      name: 'repository-knows-the-store-interface',
      severity: 'error',
      comment:
        'repository/ uses storage/ only through its index (the ObjectStore interface), never a store file ' +
        'or the AWS SDK; opening a concrete store is the composition roots\u2019 job.',
      from: { path: `${CORE}repository/`, pathNot: TEST },
      to: { path: [`${CORE}storage/(?!index\\.ts$)`, '(^|/)@aws-sdk/'] },
    },
    {
      name: 'engine-through-index',
      severity: 'error',
      comment: 'engine/ reaches the other core modules only through their index.ts (their public surface).',
      from: { path: `${CORE}engine/` },
      to: { path: `${CORE}(?!engine/)[^/]+/`, pathNot: `${CORE}[^/]+/index\\.ts$` },
    },
    {
      name: 'nbd-client-and-server-apart',
      severity: 'error',
      comment: 'nbd/client/ and nbd/server/ share only the codec and the top of nbd/, never each other.',
      from: { path: `${CORE}nbd/(client|server)/`, pathNot: TEST },
      to: { path: `${CORE}nbd/(client|server)/`, pathNot: `${CORE}nbd/$1/` },
    },
    {
      name: 'web-never-imports-core',
      severity: 'error',
      comment: 'The web UI runs in browsers and talks to the server only through its HTTP API.',
      from: { path: '^packages/web/src/' },
      to: { path: '^packages/core/' },
    },
    {
      name: 'web-imports-only-the-contract',
      severity: 'error',
      comment:
        'Of the Strata packages, the web UI imports only the API contract (@strata/contract): its types, ' +
        'defaults and validator; the server, the lab and the CLI are Node.js programs it reaches over HTTP.',
      from: { path: '^packages/web/src/' },
      to: { path: '^packages/(?!web/|contract/)' },
    },
    {
      name: 'contract-is-a-leaf',
      severity: 'error',
      comment:
        'The contract (schemas, types, defaults, validator) is what the other packages agree on: it ' +
        'imports no other Strata package, only TypeBox and croner.',
      from: { path: '^packages/contract/' },
      to: { path: '^packages/(?!contract/)' },
    },
    {
      name: 'contract-runs-in-browsers',
      severity: 'error',
      comment: 'Browsers load the contract too (the web UI validates with it): no Node.js module.',
      from: { path: '^packages/contract/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'core-through-its-exports',
      severity: 'error',
      comment:
        'Other packages, the bench and scripts import @strata/core or @strata/core/<module> (package.json ' +
        '"exports"), never its files.',
      from: { path: '^(packages/(?!core/)[^/]+/|bench/|scripts/)' },
      to: { path: '^packages/core/', pathNot: CORE_ENTRY },
    },
    {
      name: 'core-by-package-name',
      severity: 'error',
      comment: 'Outside core, core is @strata/core: a relative path into packages/core is a private reach.',
      from: { path: '^(packages/(?!core/)[^/]+/|bench/|scripts/)' },
      to: { path: '^packages/core/', dependencyTypes: ['local'], dependencyTypesNot: ['aliased'] },
    },
    {
      name: 'no-test-code-in-production',
      severity: 'error',
      comment:
        'Production code never imports test helpers (testing/, fixtures/, test files, @strata/core/testing).',
      from: { path: '^packages/[^/]+/src/', pathNot: TEST },
      to: { path: TEST },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '(^|/)(dist|node_modules)/|\\.d\\.ts$' },
    // Type-only imports are dependencies too: a type cycle is still a cycle.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // The same resolution as vitest, tsx and tsc: each workspace package from its TypeScript sources.
      conditionNames: ['strata-source', 'import', 'types', 'default'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.vue', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
}
