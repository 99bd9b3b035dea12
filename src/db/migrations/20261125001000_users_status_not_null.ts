import { sql, type Kysely } from 'kysely';

// Every user now has a status (backfilled by 20261125000900); make that a rule.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE users ALTER COLUMN status SET NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE users ALTER COLUMN status DROP NOT NULL`.execute(db);
}
