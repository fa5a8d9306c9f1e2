// The XO remotes the server knows, opened read-only (open-xo-remote.ts). The remote's key and S3
// keys come from the store's sealed columns and reach only the reader: never a URL, a log or a
// command line. A remote is opened per use and closed after it (an open remote holds no more than a
// few connections), so that a remote removed or changed behind the server is read as it is now.
import { listRemote, type XoListing, type XoRemote } from '@strata/core/xo'
import { openXoRemote } from './open-xo-remote.js'
import { xoApiError } from './xo-api-error.js'
import type { XoRemoteInput, XoRemoteRecord, XoRemoteStore } from './xo-remote-store.js'

export class XoRemoteService {
  constructor(readonly store: XoRemoteStore) {}

  /** Adds a remote once it opens with what was given (its key checked); nothing is stored otherwise. */
  async add(input: XoRemoteInput, signal: AbortSignal): Promise<XoRemoteRecord> {
    await this.store.checkName(input.name)
    const remote = await openXoRemote(input.location, input, signal)
    await remote.close()
    return this.store.create(input)
  }

  /** Runs `use` on the open remote, closed after it. */
  async with<T>(id: string, signal: AbortSignal, use: (remote: XoRemote) => Promise<T>): Promise<T> {
    const remote = await this.open(id, signal)
    try {
      return await use(remote).catch((error: unknown) => {
        throw xoApiError(error)
      })
    } finally {
      await remote.close().catch(() => undefined)
    }
  }

  /** The remote, open: the caller closes it. */
  async open(id: string, signal: AbortSignal): Promise<XoRemote> {
    const record = await this.store.get(id)
    return openXoRemote(record.location, await this.store.secrets(id), signal)
  }

  listing(id: string, signal: AbortSignal): Promise<XoListing> {
    return this.with(id, signal, (remote) => listRemote(remote, signal))
  }
}
