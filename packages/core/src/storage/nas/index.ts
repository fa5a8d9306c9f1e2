// NAS locations (nfs://, smb://): parsed, mounted under Strata's data directory when run as root, used as
// a local directory, unmounted by the last close. See docs/storage.md, "NAS locations".
export * from './nas-location.js'
export * from './mount-commands.js'
export * from './mount-table.js'
export * from './nas-mount.js'
export * from './nas-store.js'
export * from './run-command.js'
