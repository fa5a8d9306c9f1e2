// @strata/server: the composition root of the server (HTTP API, database, scheduler, runs through the
// engine's workers). docs/api.md is the contract of its API.
export { startServer, type StartOptions, type RunningServer } from './start-server.js'
export { loadConfig, DEFAULT_PORT, type ServerConfig, type ConfigOverrides } from './config.js'
export { setupDemo, type DemoSetup } from './demo-setup.js'
