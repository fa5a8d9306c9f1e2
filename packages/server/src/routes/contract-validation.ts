// Route validation by @strata/contract instead of Ajv, for the routes whose bodies are jobs: the same
// validator as the CLI and the UI, reporting every problem at once. Its failures take the shape of
// Fastify's schema errors, so http-errors.ts answers them like any other (400 INVALID_REQUEST, details
// listing each problem).
import type { FastifySchemaCompiler } from 'fastify'
import { jsonPointer, schemaProblems, type Checked, type Problem, type TSchema } from '@strata/contract'

interface ValidationError extends Error {
  validation: { instancePath: string; message: string; params: Record<string, unknown> }[]
  validationContext: string
  statusCode: number
}

/** Problems of one request part as the error a failed schema check throws. */
export function validationError(problems: readonly Problem[], part = 'body'): ValidationError {
  const first = problems[0]
  const error = new Error(first === undefined ? `${part} is invalid` : first.message) as ValidationError
  error.validation = problems.map((p) => ({
    instancePath: jsonPointer(p.path),
    message: p.message,
    params: {},
  }))
  error.validationContext = part
  error.statusCode = 400
  return error
}

/**
 * A compiler for a route's schemas: `check` judges the body (schema and meaning); the other parts are
 * checked against their schema. The value is left as sent: the handler takes the checked job from
 * `check` again (old spellings renamed, with their warnings).
 */
export function contractValidator<S>(check?: (body: unknown) => Checked<unknown>): FastifySchemaCompiler<S> {
  return ({ schema, httpPart }) =>
    (data: unknown) => {
      const problems =
        httpPart === 'body' && check !== undefined
          ? failed(check(data))
          : schemaProblems(schema as TSchema, data)
      return problems.length === 0 ? { value: data } : { error: validationError(problems, httpPart) }
    }
}

const failed = (checked: Checked<unknown>): Problem[] => (checked.ok ? [] : checked.problems)
