import { sql, type Kysely } from 'kysely';

// The realtime gateway's shared state (docs/gateway.md).
//
// gateway_events is the resume buffer: every room event gets a global `position` (the
// `seq` clients resume from) and a per-room `room_seq` (gap detection), assigned from
// gateway_room_sequences under that room's row lock, so a room's events are numbered
// without gaps in commit order. Rows live for the resume window and are swept by a job.
// It sits in PostgreSQL, not in a node's memory, so a client may resume on any node.
//
// gateway_presence holds one row per (user, node) with open connections; a node refreshes
// its rows' seen_at while it lives, so rows of a node that died go stale and are ignored.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE gateway_room_sequences (
      room  text   PRIMARY KEY,
      seq   bigint NOT NULL
    )
  `.execute(db);
  await sql`
    CREATE TABLE gateway_events (
      position     bigserial   PRIMARY KEY,
      room         text        NOT NULL,
      room_seq     bigint      NOT NULL,
      type         text        NOT NULL,
      data         jsonb       NOT NULL,
      actor_id     uuid,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT gateway_events_room_seq_key UNIQUE (room, room_seq)
    )
  `.execute(db);
  await sql`CREATE INDEX gateway_events_room_position_index ON gateway_events (room, position)`.execute(db);
  await sql`CREATE INDEX gateway_events_inserted_at_index ON gateway_events (inserted_at)`.execute(db);
  await sql`
    CREATE TABLE gateway_presence (
      user_id  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      node_id  uuid        NOT NULL,
      seen_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, node_id)
    )
  `.execute(db);
  await sql`CREATE INDEX gateway_presence_node_id_index ON gateway_presence (node_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE gateway_presence`.execute(db);
  await sql`DROP TABLE gateway_events`.execute(db);
  await sql`DROP TABLE gateway_room_sequences`.execute(db);
}
