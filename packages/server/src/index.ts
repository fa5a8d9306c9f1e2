// @strata/server: the composition root of the server (HTTP API, database, scheduler, runs through the
// engine's workers). docs/api.md is the contract of its API.
export { startServer, type StartOptions, type RunningServer } from './start-server.js'
export {
  ClusterError,
  LocalCoordinator,
  PgCoordinator,
  type Coordinator,
  type PgCoordinatorOptions,
} from './cluster/index.js'
export {
  loadConfig,
  readServerConfig,
  ConfigError,
  DEFAULT_PORT,
  type ServerConfig,
  type ConfigOverrides,
} from './config.js'
export { checkConfig, type ConfigCheck } from './check-config.js'
export type { ConfigFinding, FindingStatus } from './config-finding.js'
export { SELF_SIGNED, type TlsSetting } from './tls/tls-setting.js'
export { urlHasPassword, type DatabaseSetting } from './db/db-config.js'
export { isLoopbackHost } from './tls/listen-policy.js'
export { setupDemo, type DemoSetup } from './demo-setup.js'
export { CONFIG_FILE, exportConfig, type ConfigExport } from './metadata/config-export.js'
export {
  ConfigRestoreError,
  parseConfig,
  restoreConfig,
  type RestoredConfig,
} from './metadata/config-restore.js'
