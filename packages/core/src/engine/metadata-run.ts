// A run of a metadata job (XO's pool metadata and XO config backups): each connected pool's database as
// XAPI dumps it (GET /pool/xmldbdump), and the files its caller hands over (a server's configuration),
// each stored as a restore point of files (repository/file-point.ts) in every repository of the job,
// with the schedule's retention. A pool that could not be reached fails the run, named.
import type { Readable } from 'node:stream'
import { writeFilePoint, type Manifest, type PointFile } from '../repository/index.js'
import { StrataError, errorMessage, type TaskContext } from '../shared/index.js'
import { download } from '../xapi/index.js'
import { applyScheduleRetention } from './apply-retention.js'
import type { Job, Schedule } from './job.js'
import type { PoolSession } from './pool-session.js'
import type { BackupTarget } from './vm-backup.js'

/** The point ids ("VMs") of metadata points: one per pool, one for the server's configuration. */
export const poolMetadataId = (poolUuid: string): string => `metadata.pool.${poolUuid}`
export const CONFIG_METADATA_ID = 'metadata.strata-config'
/** The file a pool's point holds: the dump as XAPI wrote it. */
export const POOL_DUMP_FILE = 'pool-database.xml'
/** A dump larger than this is refused (a real pool's database is a few MiB). */
export const MAX_POOL_DUMP_BYTES = 128 * 1024 * 1024

export interface MetadataRunContext {
  readonly task: TaskContext
  readonly job: Job
  readonly schedule: Schedule | undefined
  readonly pools: readonly PoolSession[]
  readonly targets: readonly BackupTarget[]
  /** Files of the caller's own (the server's configuration), stored as one more point. */
  readonly configFiles?: readonly PointFile[]
  /** What the caller says of those files (kept in the point's manifest). */
  readonly configInfo?: Record<string, unknown>
}

export class MetadataError extends StrataError {}

/** A metadata job's point: its files and what its writer said (`kind: 'metadata'`). */
export function isMetadataPoint(manifest: Manifest): boolean {
  const meta = manifest.vm.metadata as { kind?: unknown } | null
  return manifest.disks.every((d) => d.role === 'file') && meta?.kind === 'metadata'
}

/** What lists call a metadata point: the pool it is the database of, or the server's configuration. */
export function metadataLabel(manifest: Manifest): string | undefined {
  if (!isMetadataPoint(manifest)) return undefined
  const meta = manifest.vm.metadata as { what?: unknown; pool?: { name?: unknown } }
  if (meta.what === 'config') return 'Strata configuration'
  return `database of pool ${typeof meta.pool?.name === 'string' ? meta.pool.name : manifest.vm.id}`
}

/**
 * Every pool, then the configuration; a pool that failed does not stop the others (its task is red):
 * resolves with what failed, "pool 'name': why", for the run to name.
 */
export async function backupMetadata(ctx: MetadataRunContext): Promise<string[]> {
  const failed: string[] = []
  for (const pool of ctx.pools) {
    const name = ctx.job.pools.find((p) => p.id === pool.poolId)?.name ?? pool.poolId
    const data = { pool: pool.poolId, name, uuid: pool.uuid }
    await ctx.task
      .child(
        'pool metadata',
        async (t) => {
          const dump = await dumpDatabase(pool, name, t.signal)
          t.set({ bytes: dump.length })
          const metadata = {
            kind: 'metadata',
            what: 'pool',
            pool: { id: pool.poolId, name, uuid: pool.uuid },
          }
          const files = [{ name: POOL_DUMP_FILE, data: dump }]
          await storeEverywhere(t, ctx, poolMetadataId(pool.uuid), files, metadata)
        },
        data,
      )
      .catch((error: unknown) => failed.push(`pool '${name}': ${errorMessage(error)}`))
  }
  if (ctx.configFiles !== undefined) {
    const files = ctx.configFiles
    const metadata = { kind: 'metadata', what: 'config', ...ctx.configInfo }
    await ctx.task.child('server configuration', (t) =>
      storeEverywhere(t, ctx, CONFIG_METADATA_ID, files, metadata),
    )
  }
  return failed
}

async function dumpDatabase(pool: PoolSession, name: string, signal: AbortSignal): Promise<Uint8Array> {
  const label = `the database of pool '${name}'`
  const stream: Readable = await download(pool.xapi, {
    method: 'GET',
    path: '/pool/xmldbdump',
    query: {},
    label,
    signal,
  })
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_POOL_DUMP_BYTES) {
      stream.destroy()
      throw new MetadataError('DUMP_TOO_LARGE', `${label} is larger than ${MAX_POOL_DUMP_BYTES} bytes`)
    }
    chunks.push(chunk)
  }
  const dump = Buffer.concat(chunks)
  if (!dump.subarray(0, 200).toString('utf8').includes('<database'))
    throw new MetadataError('NOT_A_DUMP', `${label} is not an XAPI database dump`)
  return dump
}

/** One point per repository, then the schedule's retention there (the new point is always kept). */
async function storeEverywhere(
  task: TaskContext,
  ctx: MetadataRunContext,
  id: string,
  files: readonly PointFile[],
  metadata: Record<string, unknown>,
): Promise<void> {
  for (const target of ctx.targets) {
    await task.child(
      'store',
      async (t) => {
        const point = await writeFilePoint(target.repository, {
          vm: id,
          files,
          metadata,
          jobId: ctx.job.id,
          scheduleId: ctx.schedule?.id,
          signal: t.signal,
        })
        t.set({ point: point.ref })
        await point.retention
        const policy = ctx.schedule?.retention
        if (policy === undefined) return
        await t.child('retention', (r) =>
          applyScheduleRetention(r, target.repository, {
            vmUuid: id,
            jobId: ctx.job.id,
            scheduleId: ctx.schedule?.id,
            policy,
            timeZone: ctx.schedule?.timezone ?? 'UTC',
            protect: point.pointId,
          }),
        )
      },
      { target: target.name },
    )
  }
}
