// The server's configuration errors. Their own file so that the config's parts (file formats, TLS, the
// listening policy) can raise them without importing config.ts.
import { StrataError } from '@strata/core'

/** INVALID_CONFIG by default; a narrower code where a caller may want to tell the case apart. */
export class ConfigError extends StrataError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(options.code ?? 'INVALID_CONFIG', message, { cause: options.cause })
  }
}
