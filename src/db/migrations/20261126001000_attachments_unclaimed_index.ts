import { sql, type Kysely } from 'kysely';

// Uploads no message has claimed, oldest first: the hourly sweep (attachments.sweep-unclaimed)
// reads only these, however many attached files the table holds.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX attachments_unclaimed_inserted_at_index ON attachments (inserted_at)
      WHERE message_id IS NULL AND channel_message_id IS NULL
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX attachments_unclaimed_inserted_at_index`.execute(db);
}
