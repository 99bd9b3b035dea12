// The resume buffer: room events in PostgreSQL (gateway_events), so a client can resume
// on any node, whatever the fan-out adapter. Every event is numbered twice: the global
// `position` (bigserial; what clients send back as last_seq) and its room's own
// `room_seq`, taken under the room's row lock in gateway_room_sequences, so a room's
// events are numbered without gaps in commit order. A whole batch of events (any rooms,
// several per room) is appended in ONE autocommitted statement: one round trip and one WAL
// flush however many events. Rows older than the resume window are swept by the
// gateway.sweep-resume-buffer job.
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

export interface AppendInput {
  room: Room;
  type: string;
  /** The event's data, already serialised (it is serialised once, for every use). */
  dataJson: string;
  actorId: string | null;
}

/**
 * Appends the events in order, returning each one's numbers (same order as the input).
 * Each room's counter is bumped once by its number of events (rows locked in room order,
 * so two nodes' batches cannot deadlock); the events of a room take the numbers below the
 * new value in input order, and rows are inserted in input order, so within a room
 * `position` and `room_seq` rise together.
 */
export async function appendEvents(
  db: Db,
  inputs: readonly AppendInput[],
): Promise<Array<{ position: number; room_seq: number }>> {
  if (inputs.length === 0) return [];
  const { rows } = await sql<{ position: number; room: string; room_seq: number }>`
    WITH input AS (
      SELECT * FROM unnest(
        ${inputs.map((e) => e.room)}::text[], ${inputs.map((e) => e.type)}::text[],
        ${inputs.map((e) => e.dataJson)}::text[], ${inputs.map((e) => e.actorId)}::uuid[]
      ) WITH ORDINALITY AS i (room, type, data, actor_id, ord)
    ),
    next AS (
      INSERT INTO gateway_room_sequences AS s (room, seq)
      SELECT room, count(*) FROM input GROUP BY room ORDER BY room
      ON CONFLICT (room) DO UPDATE SET seq = s.seq + excluded.seq
      RETURNING room, seq
    )
    INSERT INTO gateway_events (room, room_seq, type, data, actor_id)
    SELECT i.room,
           next.seq - count(*) OVER (PARTITION BY i.room)
             + row_number() OVER (PARTITION BY i.room ORDER BY i.ord),
           i.type, i.data::jsonb, i.actor_id
      FROM input i JOIN next ON next.room = i.room
     ORDER BY i.ord
    RETURNING position, room, room_seq
  `.execute(db);
  const numbers = new Map(rows.map((r) => [`${r.room} ${r.room_seq}`, Number(r.position)]));
  // The k-th event of a room (input order) took the k-th of the room's returned numbers.
  const seqs = new Map<string, number[]>();
  for (const r of rows) (seqs.get(r.room) ?? seqs.set(r.room, []).get(r.room)!).push(Number(r.room_seq));
  for (const list of seqs.values()) list.sort((a, b) => a - b);
  const taken = new Map<string, number>();
  return inputs.map((e) => {
    const k = taken.get(e.room) ?? 0;
    taken.set(e.room, k + 1);
    const roomSeq = seqs.get(e.room)![k]!;
    return { position: numbers.get(`${e.room} ${roomSeq}`)!, room_seq: roomSeq };
  });
}

export interface PresenceSnapshot {
  user_id: string;
  status: string;
}

/**
 * Where a fresh connection's stream starts (the latest position handed out, 0 before any),
 * and the status of each accepted friend of the user who is not offline (invisible users
 * are stored offline): ONE statement. Friends, not every co-member of the user's groups:
 * a group of thousands would make `ready` too big for the send buffer. The connection is
 * in its presence rooms before this runs, so a change committed after it arrives as an
 * event.
 */
export async function startingPoint(
  db: Db,
  userId: string,
): Promise<{ position: number; presences: PresenceSnapshot[] }> {
  const { rows } = await sql<{ last: number; presences: PresenceSnapshot[] }>`
    SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM gateway_events_position_seq) AS last,
           COALESCE((
             SELECT json_agg(json_build_object('user_id', u.id, 'status', u.status) ORDER BY u.id)
               FROM users u
              WHERE u.status <> 'offline'
                AND u.id IN (SELECT friend_id FROM friendships WHERE user_id = ${userId} AND status = 'accepted'
                             UNION ALL
                             SELECT user_id FROM friendships WHERE friend_id = ${userId} AND status = 'accepted')
           ), '[]'::json) AS presences
  `.execute(db);
  return { position: Number(rows[0]?.last ?? 0), presences: rows[0]?.presences ?? [] };
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
