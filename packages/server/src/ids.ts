import { randomBytes } from 'node:crypto'

/** Short random ids that are also valid engine ids (letters, digits, '-'). */
export const newId = (prefix: string): string => `${prefix}-${randomBytes(6).toString('hex')}`
