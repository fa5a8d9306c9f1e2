// Xen Orchestra backup remotes as read-only sources (docs/migrate-from-xo.md): adding one (its key and
// S3 keys write-only), browsing its VMs and restore points, restoring from it and importing it into a
// repository as a run.
import { Type, type Static } from '@sinclair/typebox'
import { Count, List, Names, Strict, Text } from './schema-helpers.js'

export const XoRemoteInput = Strict({
  name: Text(100),
  location: Text(1000, { description: "The remote's root: a local path (or a mount) or an s3:// URL." }),
  key: Type.Optional(
    Text(1000, { description: "Write-only: an encrypted remote's key (the 32 characters XO was given)." }),
  ),
  s3: Type.Optional(
    Strict({ accessKeyId: Text(200), secretAccessKey: Text(200) }, { description: 'Write-only.' }),
  ),
})
export type XoRemoteInput = Static<typeof XoRemoteInput>

export const XoRemote = Type.Object({
  id: Type.String(),
  name: Type.String(),
  location: Type.String(),
  encrypted: Type.Boolean({ description: 'A key is stored for it (never returned).' }),
  created: Type.Number(),
})
export type XoRemote = Static<typeof XoRemote>

export const XoVm = Type.Object({
  uuid: Type.String(),
  name: Type.String(),
  points: Type.Number(),
  locked: Type.Boolean({ description: "XO holds the lock of the VM's directory." }),
  notes: Type.Array(Type.String()),
})
export type XoVm = Static<typeof XoVm>

export const XoDiskSummary = Type.Object({
  index: Type.Number(),
  name: Type.String(),
  vdi: Type.String(),
  size: Type.Number({ description: 'bytes' }),
  chainLength: Type.Number({ description: 'VHDs from this one back to the full one.' }),
})
export type XoDiskSummary = Static<typeof XoDiskSummary>

export const XoPoint = Type.Object({
  id: Type.String({ description: "'<vm uuid>/<date>'" }),
  vm: Type.String(),
  vmName: Type.String(),
  timestamp: Type.Number({ description: 'ms since the epoch' }),
  mode: Type.Union([Type.Literal('delta'), Type.Literal('full'), Type.Literal('unknown')]),
  jobId: Type.String(),
  size: Type.Optional(Type.Number()),
  disks: Type.Array(XoDiskSummary),
  usable: Type.Boolean(),
  reason: Type.Optional(Type.String({ description: 'Why an unusable point cannot be restored.' })),
  code: Type.Optional(Type.String()),
  notes: Type.Array(Type.String()),
})
export type XoPoint = Static<typeof XoPoint>

export const XoPointsQuery = Strict({
  vm: Type.Optional(Text(200, { description: 'A VM by uuid or name.' })),
})
export type XoPointsQuery = Static<typeof XoPointsQuery>

/** A point's id is '<vm uuid>/<date>': in a path, its two parts. */
export const XoDiskParams = Strict({
  id: Text(100),
  vm: Text(100, { pattern: '^[0-9a-fA-F-]{36}$' }),
  date: Text(100, { pattern: '^[0-9A-Za-z_-][0-9A-Za-z._-]*$' }),
  file: Type.String({ pattern: '^[0-9]{1,3}\\.(raw|vhd)$', description: "'<disk>.raw' or '<disk>.vhd'" }),
})
export type XoDiskParams = Static<typeof XoDiskParams>

export const XoRestoreInput = Strict({
  pointId: Text(200),
  poolId: Text(100),
  srUuid: Text(100),
  start: Type.Optional(Type.Boolean()),
})
export type XoRestoreInput = Static<typeof XoRestoreInput>

export const XoImportInput = Strict({
  repositoryId: Text(100),
  vms: Type.Optional(Names({ description: 'VMs by uuid or name (default: all).' })),
  since: Type.Optional(Count({ description: 'Only points taken then or later (ms since the epoch).' })),
})
export type XoImportInput = Static<typeof XoImportInput>

/** What an import's run holds as its report (the root task's data `report`). */
export const XoImportReport = Type.Object({
  imported: List(
    Type.Object({
      backup: Type.String({ description: 'The XO point.' }),
      point: Type.String({ description: "The repository's new point, '<vm>/<point id>'." }),
      vm: Type.String(),
      size: Type.Number(),
      newBytes: Type.Number({ description: 'Stored bytes the repository did not hold.' }),
    }),
    100_000,
  ),
  skipped: List(
    Type.Object({
      backup: Type.String(),
      vm: Type.String(),
      reason: Type.String(),
      code: Type.String({ description: 'XO_ALREADY_IMPORTED, or why the point is unusable.' }),
    }),
    100_000,
  ),
})
export type XoImportReport = Static<typeof XoImportReport>

export const RunStarted = Type.Object({ runId: Type.String() })
export type RunStarted = Static<typeof RunStarted>
