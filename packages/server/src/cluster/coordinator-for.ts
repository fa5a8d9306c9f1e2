// Which coordinator a server gets when none is given: on PostgreSQL, instances may share the store, so
// they coordinate through it (one scheduler fires each tick, runs are leased); with SQLite the server
// is alone.
import type { DatabaseSetting } from '../db/db-config.js'
import type { Coordinator } from './coordinator.js'
import { LocalCoordinator } from './local-coordinator.js'
import { PgCoordinator, type PgCoordinatorOptions } from './pg-coordinator.js'

export function coordinatorFor(
  db: DatabaseSetting | undefined,
  log: PgCoordinatorOptions['log'],
): Coordinator {
  if (db === undefined) return new LocalCoordinator()
  return new PgCoordinator({
    connectionString: db.url,
    ...(db.password === undefined ? {} : { password: db.password }),
    ...(log === undefined ? {} : { log }),
  })
}
