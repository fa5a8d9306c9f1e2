// @strata/core: the backup domain as a library. Each module has its own entry point
// (`@strata/core/vhd`, `@strata/core/nbd`, ...); this root re-exports only the shared basics.
export * from './shared/index.js'
