// The lab's NBD endpoint: Strata's NBD server in its xapi profile (fixed newstyle, STARTTLS +
// EXPORT_NAME only, read-only). Like xapi-nbd, it looks at the networks' purposes at each connection:
// TLS with the host certificate under `nbd`, clear text under `insecure_nbd`, nothing under neither.
// Export names are "/<vdi-uuid>?session_id=<session>"; a bad session or VDI closes the connection
// without a reply, and each connection holds a dom0 VBD on the VDI until shortly after it ends
// (VDI_IN_USE window).
import { NbdServer, type NbdServerTransport, type ResolvedExport } from '@strata/core/nbd'
import type { LabState } from './api/lab-state.js'
import { attachDom0, throttle } from './http/data-common.js'

export async function startNbd(
  lab: LabState,
  host: string,
  address: string,
  tls: { cert: string; key: string },
  port = 0,
): Promise<NbdServer> {
  let served = 0
  const buffers = new BufferPool()
  let server: NbdServer | undefined = undefined
  const resolve = async (name: string): Promise<ResolvedExport | undefined> => {
    const m = /^\/?([0-9a-f-]{36})\?session_id=(.+)$/.exec(name)
    if (m === null || !lab.sessions.isValid(decodeURIComponent(m[2] ?? ''))) return undefined
    const found = lab.db.find('VDI', (r) => r.uuid === m[1])[0]
    if (found === undefined || found[1].type === 'cbt_metadata') return undefined
    const [vdi] = found
    const detach = attachDom0(lab, host, vdi, 'RO')
    return {
      source: {
        size: Number(found[1].virtual_size),
        read: async (offset, length) => {
          const data = await lab.disks.read(vdi, offset, length, buffers.take(length))
          await throttle(lab, length)
          served += length
          const limit = lab.faults.nbdDropAfterBytes
          if (limit !== undefined && served >= limit) {
            lab.faults.nbdDropAfterBytes = undefined
            served = 0
            setImmediate(() => server?.dropConnections())
          }
          return data
        },
        // Once a reply has left, its buffer serves the next read (fresh memory costs page faults).
        release: (data) => buffers.give(data),
      },
      release: detach,
    }
  }
  server = await NbdServer.listen(
    { profile: 'xapi', resolve, tls, transport: () => transportOf(lab) },
    { host: address, port },
  )
  return server
}

/** xapi-nbd's choice (reference §5): both purposes at once (which XAPI refuses to set) serve nothing. */
function transportOf(lab: LabState): NbdServerTransport {
  const purposes = new Set(lab.db.find('network', () => true).flatMap(([, row]) => row.purpose as string[]))
  const tls = purposes.has('nbd')
  if (tls === purposes.has('insecure_nbd')) return 'refuse'
  return tls ? 'tls' : 'clear'
}

/** Reused read buffers, by length: clients read in requests of a few fixed sizes. */
class BufferPool {
  readonly #free = new Map<number, Buffer[]>()

  take(length: number): Buffer | undefined {
    return this.#free.get(length)?.pop()
  }

  give(data: Uint8Array): void {
    if (!Buffer.isBuffer(data) || data.byteOffset !== 0 || data.length < 64 * 1024) return
    const free = this.#free.get(data.length) ?? []
    if (free.length < 32) free.push(data)
    this.#free.set(data.length, free)
  }
}
