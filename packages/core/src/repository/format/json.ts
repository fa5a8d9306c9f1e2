// Minimal checked JSON reading for the format codecs: a corrupt or hostile object becomes a
// CORRUPT_OBJECT error naming the object, never a TypeError deep in the code that uses it.
import { RepositoryError } from '../errors.js'

export type Json = Record<string, unknown>

export class JsonReader {
  constructor(
    readonly value: Json,
    readonly what: string,
  ) {}

  static parse(bytes: Uint8Array, what: string): JsonReader {
    let value: unknown
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
    } catch (cause) {
      throw new RepositoryError('CORRUPT_OBJECT', `${what} is not valid JSON`, { cause })
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(what, 'not an object')
    return new JsonReader(value as Json, what)
  }

  string(name: string): string {
    const v = this.value[name]
    if (typeof v !== 'string') throw fail(this.what, `field '${name}' is not a string`)
    return v
  }

  optionalString(name: string): string | undefined {
    return this.value[name] === undefined ? undefined : this.string(name)
  }

  optionalBoolean(name: string): boolean | undefined {
    const v = this.value[name]
    if (v !== undefined && typeof v !== 'boolean') throw fail(this.what, `field '${name}' is not a boolean`)
    return v
  }

  integer(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.value[name]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw fail(this.what, `field '${name}' is not an integer in [${min}, ${max}]`)
    }
    return v
  }

  bytes(name: string, length?: number): Uint8Array {
    const out = Buffer.from(this.string(name), 'base64')
    if (length !== undefined && out.length !== length)
      throw fail(this.what, `field '${name}' has wrong length`)
    return out
  }

  object(name: string): JsonReader {
    const v = this.value[name]
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw fail(this.what, `field '${name}' is not an object`)
    return new JsonReader(v as Json, this.what)
  }

  array(name: string): unknown[] {
    const v = this.value[name]
    if (!Array.isArray(v)) throw fail(this.what, `field '${name}' is not an array`)
    return v
  }

  objects(name: string): JsonReader[] {
    return this.array(name).map((v) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw fail(this.what, `'${name}' holds a non-object`)
      return new JsonReader(v as Json, this.what)
    })
  }

  strings(name: string): string[] {
    const values = this.array(name)
    if (!values.every((v) => typeof v === 'string')) throw fail(this.what, `'${name}' holds a non-string`)
    return values as string[]
  }
}

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}

function fail(what: string, why: string): RepositoryError {
  return new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: ${why}`)
}
