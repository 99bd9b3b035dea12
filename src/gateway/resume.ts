// The resume buffer: room events in PostgreSQL (gateway_events), so a client can resume
// on any node, whatever the fan-out adapter. Appending numbers the event twice in ONE
// statement: the global `position` (bigserial; what clients send back as last_seq) and
// the room's own `room_seq`, taken under the room's row lock in gateway_room_sequences, so
// a room's events are numbered without gaps in commit order. Rows older than the resume
// window are swept by the gateway.sweep-resume-buffer job.
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Room } from './rooms.ts';

export interface StoredEvent {
  position: number;
  room: string;
  room_seq: number;
  type: string;
  data: unknown;
  actor_id: string | null;
}

export async function appendEvent(
  db: Db,
  input: { room: Room; type: string; data: unknown; actorId: string | null },
): Promise<{ position: number; room_seq: number }> {
  const { rows } = await sql<{ position: number; room_seq: number }>`
    WITH next AS (
      INSERT INTO gateway_room_sequences AS s (room, seq) VALUES (${input.room}, 1)
      ON CONFLICT (room) DO UPDATE SET seq = s.seq + 1
      RETURNING seq
    )
    INSERT INTO gateway_events (room, room_seq, type, data, actor_id)
    SELECT ${input.room}, next.seq, ${input.type}, ${JSON.stringify(input.data)}::jsonb, ${input.actorId}::uuid FROM next
    RETURNING position, room_seq
  `.execute(db);
  return rows[0]!;
}

/** The latest position handed out (0 before any): where a fresh connection's stream starts. */
export async function currentPosition(db: Db): Promise<number> {
  const { rows } = await sql<{ last: number }>`
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last FROM gateway_events_position_seq
  `.execute(db);
  return Number(rows[0]?.last ?? 0);
}

export type ReplayResult =
  { kind: 'events'; events: StoredEvent[]; position: number } | { kind: 'resync'; position: number };

/**
 * The events after `lastSeq` in the given rooms, oldest first; or `resync` when some
 * events after lastSeq are no longer kept (swept), when lastSeq is in the future, or when
 * more than `max` were missed (a full reload is cheaper than a flood).
 */
export async function replay(
  db: Db,
  rooms: readonly Room[],
  lastSeq: number,
  max: number,
): Promise<ReplayResult> {
  const { rows: bounds } = await sql<{ oldest: number | null; last: number }>`
    SELECT (SELECT min(position) FROM gateway_events) AS oldest,
           (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM gateway_events_position_seq) AS last
  `.execute(db);
  const last = Number(bounds[0]!.last);
  // With an empty buffer, everything up to `last` is gone.
  const oldest = bounds[0]!.oldest === null ? last + 1 : Number(bounds[0]!.oldest);
  if (lastSeq > last || lastSeq + 1 < oldest) return { kind: 'resync', position: last };
  if (rooms.length === 0) return { kind: 'events', events: [], position: last };
  const events = await db
    .selectFrom('gateway_events')
    .select(['position', 'room', 'room_seq', 'type', 'data', 'actor_id'])
    .where('room', '=', sql<string>`ANY(${rooms}::text[])`)
    .where('position', '>', lastSeq)
    .orderBy('position')
    .limit(max + 1)
    .execute();
  if (events.length > max) return { kind: 'resync', position: last };
  return { kind: 'events', events, position: last };
}

/** Deletes events older than the window; returns how many. Room counters stay (sequences never restart). */
export async function sweepResumeBuffer(db: Db, windowMs: number): Promise<number> {
  const result = await db
    .deleteFrom('gateway_events')
    .where('inserted_at', '<', sql<Date>`now() - make_interval(secs => ${windowMs / 1000})`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
