// JSON Schema pieces shared by the routes (validation and the OpenAPI document come from the same text).
// The API's shapes are @strata/contract's; these names stay for the routes that import them from here.
import { ErrorBody, IdParams, Role } from '@strata/contract'

export const str = (extra: Record<string, unknown> = {}) =>
  ({ type: 'string', minLength: 1, ...extra }) as const
export const obj = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, properties, required }) as const
export const idParams = IdParams
export const role = Role
export const errorBody = ErrorBody
