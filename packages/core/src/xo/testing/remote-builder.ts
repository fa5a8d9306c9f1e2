// Builds XO remotes for tests from the format description (xo-backups.md §2): encryption.json and the
// key check, VM directories with metadata JSON, lineage directories holding VHD files or aliases to
// VhdDirectories, XVAs, cache.json.gz. Files go to a sink: a local directory or an object store.
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import type { ObjectStore } from '../../storage/index.js'
import type { ChunkFilter } from '../format/vhd-directory.js'
import type { DiskImage } from './disk-images.js'
import { vhdDirectory, vhdFile, type BuiltVhd } from './vhd-members.js'

export interface RemoteSink {
  put(path: string, data: Uint8Array): Promise<void>
}

export function dirSink(root: string): RemoteSink {
  return {
    async put(path, data) {
      const full = join(root, ...path.split('/'))
      await mkdir(dirname(full), { recursive: true })
      await writeFile(full, data)
    },
  }
}

export function storeSink(store: ObjectStore): RemoteSink {
  return { put: (path, data) => store.put(path, data) }
}

export type TestAlgorithm = 'chacha20-poly1305' | 'aes-256-gcm'

export interface BuilderOptions {
  readonly encryption?: TestAlgorithm
  /** 32 characters. */
  readonly key?: string
}

/** XO's file-name date: '20250101T010203Z'. */
export function fileDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')
}

export interface VhdOptions {
  readonly kind: 'file' | 'directory'
  readonly filters?: readonly ChunkFilter[]
  readonly filtersFile?: boolean
  /** Keep only this many bytes of a VHD file (a truncated file). */
  readonly cut?: number
}

/** A VHD in a lineage: its path as the metadata names it (relative to the VM directory) and its uuid. */
export interface LineageVhd {
  readonly path: string
  readonly uuid: Uint8Array
}

export interface DeltaDiskEntry {
  readonly vdiUuid: string
  readonly vhd: LineageVhd
  readonly name: string
  readonly size: number
  readonly userdevice?: string
}

export class XoRemoteBuilder {
  private constructor(
    readonly sink: RemoteSink,
    readonly options: BuilderOptions,
  ) {}

  static async create(sink: RemoteSink, options: BuilderOptions = {}): Promise<XoRemoteBuilder> {
    const builder = new XoRemoteBuilder(sink, options)
    await sink.put(
      'encryption.json',
      Buffer.from(JSON.stringify({ algorithm: options.encryption ?? 'none' })),
    )
    if (options.encryption !== undefined)
      await builder.write('metadata.json', Buffer.from(JSON.stringify({ random: randomUUID() })))
    return builder
  }

  get encrypted(): boolean {
    return this.options.encryption !== undefined
  }

  /** `iv | ciphertext | tag`, as XO's encryptor writes every file. */
  encrypt(plain: Uint8Array): Uint8Array {
    const iv = randomBytes(12)
    const key = Buffer.from(this.options.key ?? '')
    const cipher =
      this.options.encryption === 'aes-256-gcm'
        ? createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
        : createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 })
    const body = Buffer.concat([cipher.update(plain), cipher.final()])
    return Buffer.concat([iv, body, cipher.getAuthTag()])
  }

  /** A file through the remote's encryption. */
  write(path: string, plain: Uint8Array): Promise<void> {
    return this.sink.put(path, this.encrypted ? this.encrypt(plain) : plain)
  }

  /**
   * A VHD of the lineage `vdis/<job>/<vdi>/`: a file `<date>.vhd`, or an alias `<date>.alias.vhd` to the
   * VhdDirectory `data/<date>.vhd`. A parent is named by its file or alias name, relative to the child.
   */
  async addVhd(
    vm: string,
    lineage: { jobId: string; vdiUuid: string },
    date: string,
    image: DiskImage,
    blocks: readonly number[],
    options: VhdOptions,
    parent?: LineageVhd,
  ): Promise<LineageVhd> {
    const dir = `vdis/${lineage.jobId}/${lineage.vdiUuid}`
    // XO names a parent of the same lineage by its file name; another path is given as it is.
    const name = (p: string): string => (p.startsWith(`${dir}/`) ? p.slice(dir.length + 1) : p)
    const named = parent === undefined ? undefined : { uuid: parent.uuid, name: name(parent.path) }
    let built: BuiltVhd
    let path: string
    if (options.kind === 'file') {
      built = await vhdFile(image, blocks, named)
      path = `${dir}/${date}.vhd`
      await this.sink.put(`xo-vm-backups/${vm}/${path}`, built.files.get('')!.subarray(0, options.cut))
    } else {
      built = vhdDirectory(
        image,
        blocks,
        { filters: options.filters ?? [], filtersFile: options.filtersFile },
        named,
      )
      path = `${dir}/${date}.alias.vhd`
      const data = `xo-vm-backups/${vm}/${dir}/data/${date}.vhd`
      for (const [name, bytes] of built.files) await this.write(`${data}/${name}`, bytes)
      await this.write(`xo-vm-backups/${vm}/${path}`, Buffer.from(`data/${date}.vhd`))
    }
    return { path, uuid: built.uuid }
  }

  /** A delta backup's metadata JSON; returns the point id. */
  async deltaBackup(
    vm: string,
    timestamp: number,
    o: {
      jobId: string
      vmRecord: Record<string, unknown>
      disks: DeltaDiskEntry[]
      vifs?: Record<string, unknown>[]
    },
  ): Promise<string> {
    const vhds: Record<string, string> = {}
    const vdis: Record<string, unknown> = {}
    const vbds: Record<string, unknown> = {}
    o.disks.forEach((d, i) => {
      const ref = `OpaqueRef:vdi-${i}-${timestamp}`
      vhds[ref] = d.vhd.path
      vdis[ref] = {
        uuid: randomUUID(),
        name_label: d.name,
        virtual_size: d.size,
        type: 'user',
        sharable: false,
        read_only: false,
        other_config: {},
        $snapshot_of$uuid: d.vdiUuid,
      }
      vbds[`OpaqueRef:vbd-${i}-${timestamp}`] = {
        VDI: ref,
        userdevice: d.userdevice ?? String(i),
        bootable: i === 0,
        mode: 'RW',
        type: 'Disk',
        unpluggable: true,
        other_config: {},
      }
    })
    const vifs = Object.fromEntries((o.vifs ?? []).map((v, i) => [`OpaqueRef:vif-${i}`, v]))
    const meta = {
      mode: 'delta',
      jobId: o.jobId,
      scheduleId: randomUUID(),
      timestamp,
      version: '2.0.0',
      vm: o.vmRecord,
      vmSnapshot: {},
      vhds,
      vdis,
      vbds,
      vifs,
      vtpms: [],
      size: 0,
    }
    return this.metadata(vm, timestamp, meta)
  }

  /** A full backup's metadata JSON naming `./<date>.xva`; returns the point id. */
  fullBackup(
    vm: string,
    timestamp: number,
    o: { jobId: string; vmRecord: Record<string, unknown>; size: number },
  ): Promise<string> {
    const meta = {
      mode: 'full',
      jobId: o.jobId,
      scheduleId: randomUUID(),
      timestamp,
      version: '2.0.0',
      vm: o.vmRecord,
      vmSnapshot: {},
      xva: `./${fileDate(timestamp)}.xva`,
      size: o.size,
    }
    return this.metadata(vm, timestamp, meta)
  }

  async metadata(vm: string, timestamp: number, meta: unknown): Promise<string> {
    await this.write(`xo-vm-backups/${vm}/${fileDate(timestamp)}.json`, Buffer.from(JSON.stringify(meta)))
    return `${vm}/${fileDate(timestamp)}`
  }

  /** cache.json.gz listing `ids` (with whatever metadata: readers must not trust it). */
  async cache(vm: string, ids: string[]): Promise<void> {
    const entries = Object.fromEntries(ids.map((id) => [`/xo-vm-backups/${id}.json`, { mode: 'delta', id }]))
    await this.write(`xo-vm-backups/${vm}/cache.json.gz`, gzipSync(JSON.stringify(entries)))
  }
}
