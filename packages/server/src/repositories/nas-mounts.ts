// Where the server mounts NAS remotes (nfs://, smb://: Strata mounts them itself when it runs as root,
// storage/nas/): `<data>/mounts`, inside its data directory, the one place the systemd unit lets it write
// (packaging/nas-mounts.conf). Never the default of the CLI (~/.strata/mounts): the unit hides home
// directories. Opens in the server pass the directory; a job's worker, whose opens take only an
// environment, gets STRATA_HOME, under which the same `mounts/` is found (storage/open-store.ts).
import { join } from 'node:path'

export function nasMountDir(dataDir: string): string {
  return join(dataDir, 'mounts')
}

/** The worker's environment for the same mount directory: `$STRATA_HOME/mounts`. */
export function nasMountEnv(dataDir: string): { STRATA_HOME: string } {
  return { STRATA_HOME: dataDir }
}
