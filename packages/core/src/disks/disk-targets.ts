// Where a restore point's disk goes: an existing VDI through /import_raw_vdi (a sparse VHD stream), a
// sparse raw file, or a VHD file. Chunks are read in parallel; zeros are never read nor sent.
import { open, rename, rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type { DiskReader } from '../repository/index.js'
import { importVdi, type Ref, type XapiClient } from '../xapi/index.js'
import { diskVhdBytes, planDiskVhd, readSpans } from './repository-source.js'

export interface TargetOptions {
  readonly parallel?: number
  readonly signal?: AbortSignal
  readonly onProgress?: (bytes: number) => void
}

/** Writes the disk into an existing VDI of at least its size; returns the bytes of the VHD sent. */
export async function writeDiskToVdi(
  xapi: XapiClient,
  reader: DiskReader,
  vdi: Ref,
  options: TargetOptions = {},
): Promise<number> {
  const plan = planDiskVhd(reader)
  await importVdi(
    xapi,
    vdi,
    {
      open: () =>
        Readable.from(counted(diskVhdBytes(reader, plan, options.parallel, options.signal), options)),
      length: plan.length,
    },
    { format: 'vhd', signal: options.signal },
  )
  return plan.length
}

/** Writes the disk to `path` (replaced atomically), raw and sparse or as a dynamic VHD; returns its size. */
export async function writeDiskToFile(
  reader: DiskReader,
  path: string,
  format: 'raw' | 'vhd',
  options: TargetOptions = {},
): Promise<number> {
  const temp = `${path}.strata-partial`
  const file = await open(temp, 'w')
  try {
    const bytes =
      format === 'raw' ? await writeRaw(file, reader, options) : await writeVhdFile(file, reader, options)
    await file.sync()
    await file.close()
    await rename(temp, path)
    return bytes
  } catch (error) {
    await file.close().catch(() => undefined)
    await rm(temp, { force: true })
    throw error
  }
}

type Handle = Awaited<ReturnType<typeof open>>

async function writeRaw(file: Handle, reader: DiskReader, options: TargetOptions): Promise<number> {
  await file.truncate(reader.size) // holes for the zero chunks
  const chunks = [...reader.nonZeroChunks()]
  let done = 0
  for await (const { index, data } of readSpans(
    reader,
    chunks,
    reader.chunkSize,
    options.parallel ?? 8,
    options.signal,
  )) {
    await file.write(data, 0, data.length, index * reader.chunkSize)
    done += data.length
    options.onProgress?.(done)
  }
  return reader.size
}

async function writeVhdFile(file: Handle, reader: DiskReader, options: TargetOptions): Promise<number> {
  const plan = planDiskVhd(reader)
  let position = 0
  for await (const bytes of counted(diskVhdBytes(reader, plan, options.parallel, options.signal), options)) {
    await file.write(bytes, 0, bytes.length, position)
    position += bytes.length
  }
  return position
}

async function* counted(
  source: AsyncIterable<Uint8Array>,
  options: TargetOptions,
): AsyncGenerator<Uint8Array> {
  let done = 0
  for await (const bytes of source) {
    yield bytes
    done += bytes.length
    options.onProgress?.(done)
  }
}
