// The read interface the random-access VHD reader works over (io/ implements it for files).

/** Positional reads over something with a known size: a file, an object, a buffer. */
export interface RandomAccess {
  readonly size: number
  /** Exactly `length` bytes at `offset` (the caller keeps reads inside `size`). */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>
  close?(): Promise<void>
}
