// PUT /import?sr_id=[&restore=true][&force=true]: an XVA (plain, gzip or zstd) becomes new objects: VDIs in
// the SR, the VM, its VBDs and VIFs (networks matched by name_label, then bridge, else created). Disk
// chunks are written at offsets rebuilt from their numbers and checked against their .xxhash/.checksum.
// Any failure removes what was created and fails the task with an IMPORT_ERROR* code.
import { createHash, randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PassThrough, type Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import xxhash from 'xxhash-wasm'
import { DecompressStream } from 'zstd-napi'
import type { LabState } from '../api/lab-state.js'
import { createVbd } from '../api/device-methods.js'
import { createVdi, destroyVdi } from '../api/vdi-methods.js'
import { randomMac } from '../api/vm-copy.js'
import { XapiFailure, toFailure } from '../db/failure.js'
import { networkDefaults, NULL, vifDefaults, vmDefaults } from '../db/schema.js'
import { refreshSr } from '../api/sr-space.js'
import { bind, faultyBody, writeHead } from '../http/data-common.js'
import { htmlError } from '../http/json-rpc.js'
import { decodeOva, type OvaObject } from './ova-xml.js'
import { readTar } from './tar.js'

export async function handleImportXva(
  lab: LabState,
  _host: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const b = bind(lab, req, url, 'VM.import')
  if (b === undefined)
    return htmlError(res, 401, 'Unauthorised', { 'www-authenticate': 'Basic realm="xapi"' })
  if (/chunked/i.test(req.headers['transfer-encoding'] ?? '')) {
    lab.tasks.fail(b.task, new XapiFailure('IMPORT_ERROR_CANNOT_HANDLE_CHUNKED', []))
    return htmlError(res, 403, 'IMPORT_ERROR_CANNOT_HANDLE_CHUNKED')
  }
  // Kept: a request whose body iteration ended early lets go of its socket (req.socket is null then).
  const socket = req.socket
  writeHead(socket, '200 OK', b.task, { 'content-type': 'application/octet-stream' })
  const created: [string, string][] = []
  const fault = lab.faults.takeHttp('/import')
  const body = faultyBody(req, fault, new XapiFailure('IMPORT_ERROR_PREMATURE_EOF', []))
  let sr = NULL
  try {
    const [pool] = lab.db.find('pool', () => true)[0] ?? []
    sr = url.searchParams.get('sr_id') ?? String(lab.db.get('pool', pool ?? NULL).default_SR)
    lab.db.get('SR', sr)
    const vm = await importXva(
      lab,
      await decompress(body),
      {
        sr,
        restore: url.searchParams.get('restore') === 'true',
        force: url.searchParams.get('force') === 'true',
      },
      created,
    )
    if (fault?.kind === 'task-failure') throw new XapiFailure(fault.code, fault.params ?? [])
    lab.tasks.succeed(b.task, [vm])
  } catch (error) {
    for (const [cls, ref] of created.reverse()) {
      if (!lab.db.has(cls, ref)) continue
      if (cls === 'VDI') await destroyVdi(lab, ref).catch(() => undefined)
      else lab.db.delete(cls, ref)
    }
    const f = toFailure(error)
    lab.tasks.fail(
      b.task,
      // What the import raises passes through (SR_FULL from a VDI.create, an injected failure); bugs
      // and parse errors become IMPORT_ERROR.
      f.code !== 'INTERNAL_ERROR' ? f : new XapiFailure('IMPORT_ERROR', [f.message]),
    )
  } finally {
    // After a failure the rest of the body is not read: close the connection, as xapi does.
    if (lab.db.has('task', b.task) && lab.db.get('task', b.task).status !== 'success') socket.destroy()
    else socket.end()
    if (sr !== NULL) refreshSr(lab, sr)
  }
}

/** gzip and zstd are detected by their magic; anything else is read as a plain tar. */
async function decompress(req: AsyncIterable<Buffer>): Promise<AsyncIterable<Buffer>> {
  const it = req[Symbol.asyncIterator]()
  const first = await it.next()
  const head: Buffer = first.done === true ? Buffer.alloc(0) : first.value
  const rest = new PassThrough()
  rest.write(head)
  void (async () => {
    try {
      for (let n = await it.next(); n.done !== true; n = await it.next())
        if (!rest.write(n.value)) await new Promise((r) => rest.once('drain', r))
      rest.end()
    } catch (error) {
      rest.destroy(error as Error)
    }
  })()
  if (head[0] === 0x1f && head[1] === 0x8b) return rest.pipe(createGunzip()) as Readable
  if (head.readUInt32BE(0) === 0x28b52ffd) return rest.pipe(new DecompressStream()) as Readable
  return rest
}

interface ImportOptions {
  sr: string
  restore: boolean
  force: boolean
}

async function importXva(
  lab: LabState,
  source: AsyncIterable<Buffer>,
  options: ImportOptions,
  created: [string, string][],
): Promise<string> {
  const { h64Raw } = await xxhash()
  const entries = readTar(source)[Symbol.asyncIterator]()
  const premature = (): never => {
    throw new XapiFailure('IMPORT_ERROR_PREMATURE_EOF', [])
  }
  const first = await entries.next().catch(premature)
  if (first.done === true || first.value.name !== 'ova.xml') {
    throw new XapiFailure('IMPORT_ERROR_UNEXPECTED_FILE', [
      'ova.xml',
      first.done === true ? '' : first.value.name,
    ])
  }
  const ova = decodeOva(first.value.data.toString('utf8'))
  const { vm, disks } = await createObjects(lab, ova.objects, options, created)
  const written = new Map<string, { offset: number; last: number; size: number }>()
  for (;;) {
    const next = await entries.next().catch(premature)
    if (next.done === true) break
    const { name, data } = next.value
    const m = /^(Ref:\d+)\/(\d{8})$/.exec(name)
    if (m === null) continue
    const vdi = disks.get(m[1]!)
    if (vdi === undefined) throw new XapiFailure('IMPORT_ERROR', [`unexpected disk entry ${name}`])
    const state = written.get(m[1]!) ?? { offset: 0, last: -1, size: data.length }
    const n = Number(m[2])
    if (n <= state.last) throw new XapiFailure('IMPORT_ERROR', [`chunk ${name} out of order`])
    state.offset += (n - state.last - 1) * state.size
    await lab.disks.write(vdi, state.offset, data)
    state.offset += data.length
    state.last = n
    written.set(m[1]!, state)
    const sum = await entries.next().catch(premature)
    if (sum.done === true) premature()
    const { name: sumName, data: sumData } = sum.value as { name: string; data: Buffer }
    const expected = sumData.toString('latin1').trim()
    const actual = sumName.endsWith('.xxhash')
      ? h64Raw(data).toString(16).toUpperCase().padStart(16, '0')
      : createHash('sha1').update(data).digest('hex')
    if (!options.force && !(sumName === `${name}.xxhash` || sumName === `${name}.checksum`)) {
      throw new XapiFailure('IMPORT_ERROR', [`Expected to find an inline checksum after ${name}`])
    }
    if (!options.force && expected.toLowerCase() !== actual.toLowerCase())
      throw new XapiFailure('IMPORT_ERROR_SOME_CHECKSUMS_FAILED', [])
  }
  return vm
}

async function createObjects(
  lab: LabState,
  objects: OvaObject[],
  options: ImportOptions,
  created: [string, string][],
) {
  const { db } = lab
  const refs = new Map<string, string>()
  const of = (cls: string) => objects.filter((o) => o.class === cls)
  for (const o of of('network')) {
    const s = o.snapshot
    const found =
      db.find('network', (r) => r.name_label === s.name_label)[0] ??
      db.find('network', (r) => r.bridge === s.bridge)[0]
    refs.set(
      o.id,
      found?.[0] ??
        db.create('network', {
          ...networkDefaults(),
          name_label: s.name_label,
          bridge: s.bridge,
          MTU: s.MTU,
        }),
    )
  }
  const disks = new Map<string, string>()
  for (const o of of('VDI')) {
    const s = o.snapshot
    const vdi = await createVdi(lab, {
      name_label: s.name_label,
      name_description: s.name_description,
      SR: options.sr,
      virtual_size: Number(s.virtual_size),
      type: s.type,
      sharable: s.sharable,
      read_only: s.read_only,
      other_config: s.other_config,
      tags: s.tags,
    })
    created.push(['VDI', vdi])
    refs.set(o.id, vdi)
    disks.set(o.id, vdi)
  }
  const vmObject = of('VM')[0]
  if (vmObject === undefined) throw new XapiFailure('IMPORT_ERROR', ['no VM in ova.xml'])
  const s = vmObject.snapshot
  const keep = Object.fromEntries(
    Object.keys(vmDefaults())
      .filter((k) => k in s)
      .map((k) => [k, s[k]]),
  )
  const otherConfig = {
    ...(s.other_config as object),
    ...(options.restore ? {} : { mac_seed: randomUUID() }),
  }
  const vm = db.create('VM', {
    ...vmDefaults(),
    ...keep,
    uuid: undefined,
    other_config: otherConfig,
    power_state: 'Halted',
    VBDs: [],
    VIFs: [],
    snapshots: [],
    consoles: [],
    parent: NULL,
    children: [],
    resident_on: NULL,
    affinity: NULL,
    suspend_VDI: NULL,
    suspend_SR: NULL,
    metrics: NULL,
    guest_metrics: NULL,
  } as never)
  created.push(['VM', vm])
  for (const o of of('VBD')) {
    const v = o.snapshot
    created.push([
      'VBD',
      createVbd(lab, {
        VM: vm,
        VDI: refs.get(String(v.VDI)) ?? NULL,
        userdevice: v.userdevice,
        bootable: v.bootable,
        mode: v.mode,
        type: v.type,
        unpluggable: v.unpluggable,
        other_config: v.other_config,
      }),
    ])
  }
  for (const o of of('VIF')) {
    const v = o.snapshot
    const network = refs.get(String(v.network)) ?? NULL
    const vif = db.create('VIF', {
      ...vifDefaults(),
      VM: vm,
      network,
      device: v.device,
      MTU: v.MTU,
      MAC: options.restore ? v.MAC : randomMac(),
      MAC_autogenerated: !options.restore,
      other_config: v.other_config,
    })
    created.push(['VIF', vif])
    db.update('VM', vm, { VIFs: [...(db.get('VM', vm).VIFs as string[]), vif] })
    if (network !== NULL)
      db.update('network', network, { VIFs: [...(db.get('network', network).VIFs as string[]), vif] })
  }
  return { vm, disks }
}
