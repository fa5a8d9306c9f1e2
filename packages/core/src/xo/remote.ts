// An open XO remote: its encryption settled (the key checked against metadata.json) and its files read
// in clear. Every read is bounded by what its kind may hold; an encrypted file is read whole, since
// XO's whole-file AEAD allows nothing else.
import { throwIfAborted } from '../shared/index.js'
import {
  checkKey,
  decryptFile,
  ENCRYPTION_OVERHEAD,
  parseEncryptionJson,
  type XoAlgorithm,
} from './crypto.js'
import { XoError } from './errors.js'
import type { RemoteEntry, RemoteFiles } from './remote-files.js'

export interface OpenRemoteOptions {
  /** The remote's key (the 32 characters XO was given), for an encrypted remote. */
  readonly key?: Uint8Array
  readonly signal?: AbortSignal
}

/** Small files: encryption.json, metadata.json, aliases, chunk-filters.json. */
const SMALL_FILE = 64 * 1024

export class XoRemote {
  private constructor(
    readonly files: RemoteFiles,
    readonly algorithm: XoAlgorithm,
    readonly key: Uint8Array | undefined,
  ) {}

  static async open(files: RemoteFiles, options: OpenRemoteOptions = {}): Promise<XoRemote> {
    const { signal } = options
    const json = await readBounded(files, 'encryption.json', SMALL_FILE, signal).catch((error: unknown) => {
      if ((error as XoError).code === 'XO_NOT_FOUND') return undefined
      throw error
    })
    const algorithm = parseEncryptionJson(json, files.name)
    if (algorithm === 'none') return new XoRemote(files, algorithm, undefined)
    if (options.key === undefined) {
      throw new XoError(
        'XO_KEY_REQUIRED',
        `${files.name} is encrypted (${algorithm}): give its key in STRATA_XO_KEY or STRATA_XO_KEY_FILE`,
      )
    }
    const remote = new XoRemote(files, algorithm, checkKey(options.key))
    await remote.#checkKey(signal)
    return remote
  }

  get name(): string {
    return this.files.name
  }

  get encrypted(): boolean {
    return this.algorithm !== 'none'
  }

  /** The file's plaintext; XO_TOO_LARGE past `maxBytes`, XO_NOT_FOUND when absent. */
  async read(path: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    const stored = await readBounded(this.files, path, this.storedBound(maxBytes), signal)
    if (this.key === undefined || this.algorithm === 'none') return stored
    return decryptFile(this.algorithm, this.key, stored, `'${path}' in ${this.name}`)
  }

  /** As read(), undefined when the file is absent. */
  async readIfPresent(path: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    return this.read(path, maxBytes, signal).catch((error: unknown) => {
      if ((error as XoError).code === 'XO_NOT_FOUND') return undefined
      throw error
    })
  }

  /** Bytes of a file stored in clear (a VHD file; an XVA on a clear remote). */
  async readRange(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.encrypted) {
      throw new XoError('XO_UNSUPPORTED', `'${path}' in ${this.name}: an encrypted file has no random access`)
    }
    return this.files.readRange(path, offset, length, signal)
  }

  size(path: string, signal?: AbortSignal): Promise<number | undefined> {
    return this.files.size(path, signal)
  }

  entries(dir: string, signal?: AbortSignal): Promise<RemoteEntry[]> {
    return this.files.entries(dir, signal)
  }

  /** What a file of `plain` bytes may take in the remote. */
  storedBound(plain: number): number {
    return this.encrypted ? plain + ENCRYPTION_OVERHEAD : plain
  }

  async close(): Promise<void> {
    await this.files.close?.()
  }

  /** XO writes metadata.json encrypted as the key check: a wrong key fails its authentication. */
  async #checkKey(signal?: AbortSignal): Promise<void> {
    let plain: Uint8Array
    try {
      plain = await this.read('metadata.json', SMALL_FILE, signal)
    } catch (error) {
      if ((error as XoError).code !== 'XO_AUTH_FAILED') throw error
      throw new XoError(
        'XO_KEY_WRONG',
        `the key given does not open ${this.name}: it is not this remote's key`,
        {
          cause: error,
        },
      )
    }
    try {
      JSON.parse(Buffer.from(plain).toString('utf8'))
    } catch (error) {
      throw new XoError('XO_METADATA_INVALID', `metadata.json of ${this.name} is not JSON`, { cause: error })
    }
  }
}

async function readBounded(
  files: RemoteFiles,
  path: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  throwIfAborted(signal)
  const bytes = await files.readRange(path, 0, maxBytes + 1, signal)
  if (bytes.length > maxBytes) {
    throw new XoError('XO_TOO_LARGE', `'${path}' in ${files.name} exceeds ${maxBytes} bytes`)
  }
  return bytes
}
