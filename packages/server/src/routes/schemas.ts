// JSON Schema pieces shared by the routes (validation and the OpenAPI document come from the same text).
export const str = (extra: Record<string, unknown> = {}) =>
  ({ type: 'string', minLength: 1, ...extra }) as const
export const obj = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, properties, required }) as const
export const idParams = obj({ id: str({ maxLength: 100 }) }, ['id'])
export const role = { type: 'string', enum: ['admin', 'operator', 'read-only'] } as const
export const errorBody = obj(
  {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
      required: ['code', 'message'],
    },
  },
  ['error'],
)
