// /pool/xmldbdump (xapi's Pool_db_backup handlers, what `xe pool-dump-database` and
// `xe pool-restore-database` use): GET streams the pool database as XML (db/db-xml.ts) after a bare
// 200 head; PUT?dry_run=true|false reads a dump, checks and prepares it for this host
// (api/pool-database.ts) and, unless a dry run, has it replace the database, after which the
// toolstack restarts on it (sessions and tasks vanish). Sessions as for the other handlers (401).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LabState } from '../api/lab-state.js'
import { applyRestore, dumpDatabase, prepareRestore } from '../api/pool-database.js'
import { decodeDump, encodeDump } from '../db/db-xml.js'
import { XapiFailure, toFailure } from '../db/failure.js'
import { bind, write } from './data-common.js'
import { htmlError } from './json-rpc.js'

/** Largest dump a restore reads (a real pool's database is a few MiB). */
export const MAX_DUMP_BYTES = 64 * 1024 * 1024

const HEAD = 'HTTP/1.1 200 OK\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n\r\n'

function masterAddress(lab: LabState): string | undefined {
  const [[, pool] = []] = lab.db.find('pool', () => true)
  const master = String(pool?.master)
  return lab.db.has('host', master) ? String(lab.db.get('host', master).address) : undefined
}

export async function handleDumpDatabase(
  lab: LabState,
  _host: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const b = bind(lab, req, url, 'Dumping database as XML')
  if (b === undefined)
    return htmlError(res, 401, 'Unauthorised', { 'www-authenticate': 'Basic realm="xapi"' })
  const socket = req.socket
  socket.write(HEAD)
  try {
    let text = ''
    for (const piece of encodeDump(dumpDatabase(lab))) {
      text += piece
      if (text.length < 64 * 1024) continue
      if (!(await write(socket, Buffer.from(text))))
        throw new XapiFailure('INTERNAL_ERROR', ['connection lost'])
      text = ''
    }
    if (!(await write(socket, Buffer.from(text))))
      throw new XapiFailure('INTERNAL_ERROR', ['connection lost'])
    await new Promise<void>((resolve) => socket.end(resolve))
    lab.tasks.succeed(b.task, '')
  } catch (error) {
    socket.destroySoon()
    lab.tasks.fail(b.task, error)
  }
}

export async function handleRestoreDatabase(
  lab: LabState,
  host: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const b = bind(lab, req, url, 'Reading database as XML')
  if (b === undefined)
    return htmlError(res, 401, 'Unauthorised', { 'www-authenticate': 'Basic realm="xapi"' })
  const thisHost = lab.hostRef(host)
  const [[, pool] = []] = lab.db.find('pool', () => true)
  if (pool?.master !== thisHost) {
    const f = new XapiFailure('HOST_IS_SLAVE', [masterAddress(lab) ?? ''])
    lab.tasks.fail(b.task, f)
    return htmlError(res, 500, `${f.code}: [ ${f.params.join('; ')} ]`)
  }
  req.socket.write(HEAD)
  try {
    const restored = prepareRestore(lab, decodeDump(await readBody(req)), thisHost)
    lab.tasks.succeed(b.task, '')
    if (url.searchParams.get('dry_run') !== 'true')
      lab.databaseRestored(() => applyRestore(lab, restored), restored.master)
    req.socket.end()
  } catch (error) {
    lab.tasks.fail(b.task, toFailure(error))
    req.socket.destroy()
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_DUMP_BYTES)
    throw new XapiFailure('INTERNAL_ERROR', [`database dump larger than ${MAX_DUMP_BYTES} bytes`])
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_DUMP_BYTES)
      throw new XapiFailure('INTERNAL_ERROR', [`database dump larger than ${MAX_DUMP_BYTES} bytes`])
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
