// The re-sealing migration: secrets sealed before they were bound to their place ('v1:') are opened and sealed
// again bound to their table, row and column ('v2:'). This needs the server key; a database sealed
// under another key fails here, naming the first secret that does not open, and stays as it was.
import { StrataError } from '@strata/core'
import type { SecretBox } from '../secret-box.js'
import type { Db } from './db-handle.js'

/** The sealed columns when secrets were bound (frozen: later columns are sealed bound from the start). */
const COLUMNS: readonly [table: string, column: string][] = [
  ['users', 'totp_secret'],
  ['users', 'totp_pending'],
  ['pools', 'password_sealed'],
  ['repositories', 'passphrase_sealed'],
  ['repositories', 's3_sealed'],
]

export async function resealBound(db: Db, box: SecretBox | undefined): Promise<void> {
  for (const [table, column] of COLUMNS) {
    const rows = await db.all<{ id: string; sealed: string }>(
      `SELECT id, ${column} AS sealed FROM ${table} WHERE ${column} LIKE 'v1:%'`,
    )
    if (rows.length === 0) continue
    if (box === undefined)
      throw new StrataError('MIGRATION_NEEDS_KEY', `re-sealing ${table}.${column} needs the server key`)
    for (const { id, sealed } of rows) {
      const field = { table, row: id, column }
      await db.run(`UPDATE ${table} SET ${column} = ? WHERE id = ?`, [
        box.seal(box.openUnbound(sealed, field), field),
        id,
      ])
    }
  }
}
