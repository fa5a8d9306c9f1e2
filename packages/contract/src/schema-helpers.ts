// Builders for the contract's schemas. Every input is bounded (strings, lists) and every object refuses
// unknown fields, so a misspelt field is an error, never silently ignored.
import { CloneType, Type, type ObjectOptions, type TProperties, type TSchema } from '@sinclair/typebox'

/** An object that refuses fields it does not name. */
export const Strict = <P extends TProperties>(properties: P, options: ObjectOptions = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options })

/** A non-empty string of at most `maxLength` characters. */
export const Text = (maxLength: number, options: Record<string, unknown> = {}) =>
  Type.String({ minLength: 1, maxLength, ...options })

/** A whole number ≥ 0 (counts, sizes, intervals). */
export const Count = (options: Record<string, unknown> = {}) =>
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, ...options })

/** Ids name files and locks: letters, digits, '.', '_', '-', starting with a letter or digit. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
export const Id = (options: Record<string, unknown> = {}) =>
  Type.String({
    pattern: ID_PATTERN,
    maxLength: 64,
    errorMessage: "an id (letters, digits, '.', '_', '-', starting with a letter or digit)",
    ...options,
  })

/** A bounded list. */
export const List = <T extends TSchema>(items: T, maxItems: number, options: Record<string, unknown> = {}) =>
  Type.Array(items, { maxItems, ...options })

/** Names or uuids (VMs, tags, pools): bounded words. */
export const Names = (options: Record<string, unknown> = {}) => List(Text(200), 1000, options)

/** A field kept for one release under its old name; `renamed` is the name to use instead. */
export const Deprecated = <T extends TSchema>(schema: T, renamed: string) =>
  Type.Optional(
    CloneType(schema, {
      deprecated: true,
      description: `Deprecated: renamed '${renamed}' (accepted with a warning until the next release).`,
    }),
  )
