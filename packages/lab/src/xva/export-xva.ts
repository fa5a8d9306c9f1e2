// GET /export?ref|uuid=&use_compression=: a VM (halted, suspended or a snapshot) as an XVA: ova.xml,
// then each disk in 1 MiB chunks `Ref:n/NNNNNNNN` each followed by its `.xxhash` (XXH64, 16 uppercase
// hex digits); zero chunks are left out except the first and last. The whole tar compressed with gzip
// (use_compression=true|gzip) or zstd (use_compression=zstd), else plain.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import xxhash from 'xxhash-wasm'
import { CompressStream } from 'zstd-napi'
import type { LabState } from '../api/lab-state.js'
import { withVmOperation } from '../api/vm-copy.js'
import { XapiFailure, toFailure } from '../db/failure.js'
import { attachDom0, bind, write } from '../http/data-common.js'
import { htmlError } from '../http/json-rpc.js'
import { buildOva, encodeOva } from './ova-xml.js'
import { TAR_END, tarHeader, tarPadding } from './tar.js'

const CHUNK = 1024 * 1024

export async function handleExportXva(
  lab: LabState,
  host: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const b = bind(lab, req, url, 'VM.export')
  if (b === undefined)
    return htmlError(res, 401, 'Unauthorised', { 'www-authenticate': 'Basic realm="xapi"' })
  let vm: string
  try {
    const id = url.searchParams.get('ref') ?? url.searchParams.get('uuid') ?? ''
    vm = id.startsWith('OpaqueRef:') ? (lab.db.get('VM', id), id) : lab.db.byUuid('VM', id)
    const row = lab.db.get('VM', vm)
    if (row.is_a_snapshot !== true && !['Halted', 'Suspended'].includes(String(row.power_state))) {
      throw new XapiFailure('VM_BAD_POWER_STATE', [
        vm,
        'halted, suspended',
        String(row.power_state).toLowerCase(),
      ])
    }
  } catch (error) {
    const f = toFailure(error)
    lab.tasks.fail(b.task, f)
    return htmlError(res, 500, `${f.code}: [ ${f.params.join('; ')} ]`)
  }
  const compression = url.searchParams.get('use_compression') ?? ''
  const socket = req.socket
  socket.write(
    `HTTP/1.0 200 OK\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\ntask-id: ${b.task}\r\nServer: xapi/25.6\r\ncontent-type: application/octet-stream\r\nContent-Disposition: attachment; filename="export.xva"\r\n\r\n`,
  )
  const task = lab.tasks.control(b.task)
  try {
    await withVmOperation(
      lab,
      { session: b.session, host, task, signal: AbortSignal.timeout(3_600_000) },
      vm,
      'export',
      async () => {
        const { ova, vdis } = buildOva(lab, vm)
        const detach = vdis.map(([, vdi]) => attachDom0(lab, lab.hostRef(host), vdi, 'RO'))
        try {
          const tar = Readable.from(xvaEntries(lab, encodeOva(ova), vdis, task.checkCancelled))
          const body = ['true', 'gzip'].includes(compression)
            ? tar.pipe(createGzip())
            : compression === 'zstd'
              ? tar.pipe(new CompressStream())
              : tar
          for await (const chunk of body) {
            if (!(await write(socket, chunk as Buffer)))
              throw new XapiFailure('VDI_IO_ERROR', ['Device I/O errors'])
          }
        } finally {
          for (const d of detach) d()
        }
      },
    )
    await new Promise<void>((resolve) => socket.end(resolve))
    lab.tasks.succeed(b.task, '')
  } catch (error) {
    socket.destroySoon()
    lab.tasks.fail(b.task, error)
  }
}

async function* xvaEntries(
  lab: LabState,
  ovaXml: Buffer,
  vdis: [string, string][],
  check: () => void,
): AsyncGenerator<Buffer> {
  const { h64Raw } = await xxhash()
  const entry = function* (name: string, data: Buffer): Generator<Buffer> {
    yield tarHeader(name, data.length)
    yield data
    yield tarPadding(data.length)
  }
  yield* entry('ova.xml', ovaXml)
  for (const [id, vdi] of vdis) {
    const size = lab.disks.size(vdi)
    const last = Math.ceil(size / CHUNK) - 1
    for (let n = 0; n <= last; n++) {
      check()
      const data = await lab.disks.read(vdi, n * CHUNK, Math.min(CHUNK, size - n * CHUNK))
      if (n !== 0 && n !== last && data.every((b) => b === 0)) continue
      const name = `${id}/${String(n).padStart(8, '0')}`
      yield* entry(name, data)
      yield* entry(`${name}.xxhash`, Buffer.from(h64Raw(data).toString(16).toUpperCase().padStart(16, '0')))
    }
  }
  yield TAR_END
}
