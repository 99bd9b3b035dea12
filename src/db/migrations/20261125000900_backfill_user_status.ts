import { sql, type Kysely } from 'kysely';

// The seed's BackfillUserStatus data migration: users created while users.status was
// nullable get the default status, so the next migration can make the column NOT NULL.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`UPDATE users SET status = 'offline' WHERE status IS NULL`.execute(db);
}

export async function down(_db: Kysely<any>): Promise<void> {
  // Nothing to undo: once backfilled, a row that had NULL is indistinguishable from one
  // that was 'offline' all along, and NULL and 'offline' mean the same thing to the
  // application, so leaving the values in place is a correct rollback.
}
