// The database handle's type, apart from database.ts: the migrations that database.ts applies name it
// too, and an import back into database.ts would be a cycle.
import type Database from 'better-sqlite3'

export type Db = Database.Database
