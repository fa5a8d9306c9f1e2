// An XAPI failure raised by the lab: travels to clients as `["CODE", param…]` (JSON-RPC v1) or
// `{code: 1, message: CODE, data: [param…]}` (v2), and into task.error_info.
export class XapiFailure extends Error {
  constructor(
    readonly code: string,
    readonly params: string[] = [],
  ) {
    super(`${code} [${params.join(', ')}]`)
    this.name = 'XapiFailure'
  }
}

export function toFailure(error: unknown): XapiFailure {
  if (error instanceof XapiFailure) return error
  return new XapiFailure('INTERNAL_ERROR', [error instanceof Error ? error.message : String(error)])
}
