// Test helpers of the XO reader (sources only, never built): remotes built from the format description,
// the scenario most tests read, long chains, and reading a remote back.
export * from './disk-images.js'
export * from './remote-builder.js'
export * from './scenario.js'
export * from './long-chain.js'
export * from './xva-builder.js'
export * from './read-back.js'
