// Problems found in a document, each with its JSON path (`schedules[0].cron`) and a message an admin can
// act on. Schema errors are translated here; an unknown field names the nearest known one.
import type { TSchema } from '@sinclair/typebox'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import { Value } from '@sinclair/typebox/value'

export interface Problem {
  /** Where, as a JSON path from the document's root (`schedules[0].cron`); '' for the root. */
  readonly path: string
  readonly message: string
}

/** More would only hide the first ones. */
export const MAX_PROBLEMS = 50

/** '/schedules/0/cron' → 'schedules[0].cron'. */
export function jsonPath(pointer: string): string {
  let out = ''
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(part)) out += `[${part}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`
    else out += `[${JSON.stringify(part)}]`
  }
  return out
}

/** 'schedules[0].cron' → '/schedules/0/cron' (the JSON Pointer that Ajv-style errors carry). */
export function jsonPointer(path: string): string {
  const parts = path.match(/\["(?:[^"\\]|\\.)*"\]|[^.[\]]+/g) ?? []
  return parts
    .map((part) => (part.startsWith('["') ? (JSON.parse(part.slice(1, -1)) as string) : part))
    .map((part) => `/${part.replace(/~/g, '~0').replace(/\//g, '~1')}`)
    .join('')
}

/** `path: message`, or the message alone at the root. */
export function formatProblem(problem: Problem): string {
  return problem.path === '' ? problem.message : `${problem.path}: ${problem.message}`
}

/** Every way `value` differs from `schema`, one problem per path. */
export function schemaProblems(schema: TSchema, value: unknown): Problem[] {
  const problems: Problem[] = []
  const seen = new Set<string>()
  collect(Value.Errors(schema, value), problems, seen)
  return problems.slice(0, MAX_PROBLEMS)
}

function collect(errors: Iterable<ValueError>, out: Problem[], seen: Set<string>): void {
  for (const error of errors) {
    if (out.length >= MAX_PROBLEMS) return
    if (error.type === ValueErrorType.Union) {
      const branch = matchingBranch(error)
      if (branch !== undefined) {
        collect(branch, out, seen)
        continue
      }
    }
    if (seen.has(error.path)) continue
    seen.add(error.path)
    out.push({ path: jsonPath(error.path), message: describe(error) })
  }
}

/** The one branch of a union whose basic type fits the value (an array for a list, ...), if any. */
function matchingBranch(error: ValueError): ValueError[] | undefined {
  const fitting = error.errors
    .map((iterator) => [...iterator])
    .filter((errors) => !errors.some((e) => e.path === error.path && isTypeMismatch(e)))
  return fitting.length === 1 ? fitting[0] : undefined
}

const TYPE_ERRORS = new Set([
  ValueErrorType.Array,
  ValueErrorType.Boolean,
  ValueErrorType.Integer,
  ValueErrorType.Literal,
  ValueErrorType.Null,
  ValueErrorType.Number,
  ValueErrorType.Object,
  ValueErrorType.String,
  ValueErrorType.Union,
])
const isTypeMismatch = (e: ValueError): boolean => TYPE_ERRORS.has(e.type)

function describe(error: ValueError): string {
  const s = error.schema as Record<string, unknown>
  const value = error.value
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const name = error.path.split('/').pop() ?? ''
      const near = nearest(name, Object.keys((s.properties as object | undefined) ?? {}))
      return `unknown field${near === undefined ? '' : `; did you mean '${near}'?`}`
    }
    case ValueErrorType.ObjectRequiredProperty:
      return 'missing (required)'
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `at least ${String(s.minLength)} characters`
    case ValueErrorType.StringMaxLength:
      return `at most ${String(s.maxLength)} characters`
    case ValueErrorType.ArrayMinItems:
      return `needs at least ${String(s.minItems)} item${s.minItems === 1 ? '' : 's'}`
    case ValueErrorType.ArrayMaxItems:
      return `at most ${String(s.maxItems)} items`
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `at least ${String(s.minimum)}, not ${show(value)}`
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `at most ${String(s.maximum)}, not ${show(value)}`
    default:
      return `expected ${expected(error)}, not ${show(value)}`
  }
}

function expected(error: ValueError): string {
  const s = error.schema as Record<string, unknown>
  if (typeof s.errorMessage === 'string') return s.errorMessage
  const anyOf = s.anyOf as Record<string, unknown>[] | undefined
  if (anyOf?.every((b) => b.const !== undefined))
    return `one of ${anyOf.map((b) => JSON.stringify(b.const)).join(', ')}`
  if (typeof s.description === 'string' && anyOf !== undefined) return s.description
  const names: Partial<Record<ValueErrorType, string>> = {
    [ValueErrorType.Array]: 'a list',
    [ValueErrorType.Boolean]: 'true or false',
    [ValueErrorType.Integer]: 'a whole number',
    [ValueErrorType.Number]: 'a number',
    [ValueErrorType.Object]: 'an object',
    [ValueErrorType.String]: 'a string',
    [ValueErrorType.Literal]: JSON.stringify(s.const),
    [ValueErrorType.StringPattern]:
      typeof s.description === 'string' ? s.description : `text matching ${String(s.pattern)}`,
  }
  return names[error.type] ?? 'another value'
}

/** A value as a message shows it: quoted, cut short. */
export function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** The known name closest to a misspelt one, when it is close enough to be the likely intent. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  const limit = Math.max(2, Math.floor(name.length / 3))
  return bestDistance <= limit ? best : undefined
}

/** Edit distance with transpositions (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const row = d[i]!
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}
