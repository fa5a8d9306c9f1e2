// Every CLI command, in the order `strata help` lists them.
import type { Command } from '../command.js'
import { version } from './version.js'
import { nbdCopy } from './nbd-copy.js'
import { nbdServe } from './nbd-serve.js'
import { vhdInfo } from './vhd-info.js'
import { vhdToRawCommand } from './vhd-to-raw.js'
import { vhdFromRaw } from './vhd-from-raw.js'
import { labServe } from './lab-serve.js'
import { labGuestWrite } from './lab-guest-write.js'
import { backupRun } from './backup-run.js'
import { backupLogs } from './backup-logs.js'
import { replicateRun } from './replicate-run.js'
import { replicateList } from './replicate-list.js'
import { replicateFailover } from './replicate-failover.js'
import { healthcheckRun } from './healthcheck-run.js'
import { restoreVmCommand } from './restore-vm.js'
import { restoreDiskCommand } from './restore-disk.js'
import { restoreServeCommand } from './restore-serve.js'
import { restoreFilesGet, restoreFilesList, restoreFilesLs } from './restore-files.js'
import { serverCommand } from './server.js'
import { serverRestoreConfig } from './server-restore-config.js'
import { repoRestoreMetadata } from './repo-restore-metadata.js'
import { agentCommand } from './agent.js'
import { poolSrs } from './pool-srs.js'
import { poolVms } from './pool-vms.js'
import { poolNetworks } from './pool-networks.js'
import { repoInit } from './repo-init.js'
import { repoInfo } from './repo-info.js'
import { repoSnapshots } from './repo-snapshots.js'
import { repoBackupImage } from './repo-backup-image.js'
import { repoRestoreImage } from './repo-restore-image.js'
import { repoForget } from './repo-forget.js'
import { repoProtect, repoUnprotect } from './repo-protect.js'
import { repoGc } from './repo-gc.js'
import { repoTierAdd } from './repo-tier-add.js'
import { repoTierMove } from './repo-tier-move.js'
import { repoCheck } from './repo-check.js'
import { repoVerify } from './repo-verify.js'
import { repoKeyAdd } from './repo-key-add.js'
import { repoKeyList } from './repo-key-list.js'
import { repoKeyRemove } from './repo-key-remove.js'
import { mirrorRun } from './mirror-run.js'
import { xoImport } from './xo-import.js'
import { xoList } from './xo-list.js'
import { xoRestoreDisk } from './xo-restore-disk.js'
import { xoRestoreVm } from './xo-restore-vm.js'
import { completionCommand } from './completion.js'

export const commands: readonly Command<never>[] = [
  version,
  vhdInfo,
  vhdToRawCommand,
  vhdFromRaw,
  repoInit,
  repoInfo,
  repoSnapshots,
  repoRestoreMetadata,
  serverRestoreConfig,
  repoBackupImage,
  repoRestoreImage,
  repoForget,
  repoProtect,
  repoUnprotect,
  repoGc,
  repoTierAdd,
  repoTierMove,
  repoCheck,
  repoVerify,
  repoKeyAdd,
  repoKeyList,
  repoKeyRemove,
  mirrorRun,
  nbdCopy,
  nbdServe,
  labServe,
  labGuestWrite,
  backupRun,
  backupLogs,
  replicateRun,
  replicateList,
  replicateFailover,
  healthcheckRun,
  restoreVmCommand,
  restoreDiskCommand,
  restoreServeCommand,
  restoreFilesList,
  restoreFilesLs,
  restoreFilesGet,
  poolSrs,
  poolVms,
  poolNetworks,
  serverCommand,
  agentCommand,
  xoList,
  xoImport,
  xoRestoreDisk,
  xoRestoreVm,
  completionCommand(() => commands),
] as Command<never>[]
