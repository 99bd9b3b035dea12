// Plain Kysely for the notifications table. Each statement names the index that serves it
// (docs/social.md shows the plans):
//   unread part of the list, unread count  notifications_user_id_read_at_inserted_at_index
//   read part of the list                  notifications_user_id_inserted_at_id_index
//   collapse upsert                        notifications_user_id_collapse_key_index
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';

export type Phase = 'unread' | 'read';

export interface NotificationRow {
  id: string;
  type: string;
  data: unknown;
  read_at: Date | null;
  inserted_at: Date;
  updated_at: Date;
  /** inserted_at as PostgreSQL prints it (microseconds kept), for the cursor. */
  cursor_at: string;
  actor_id: string | null;
  actor_username: string | null;
  actor_display_name: string | null;
  actor_avatar_url: string | null;
}

/** The notification with its actor's public fields: what the API shows. */
function withActor(db: Db) {
  return db
    .selectFrom('notifications as n')
    .leftJoin('users as a', 'a.id', 'n.actor_id')
    .select([
      'n.id',
      'n.type',
      'n.data',
      'n.read_at',
      'n.inserted_at',
      'n.updated_at',
      sql<string>`n.inserted_at::text`.as('cursor_at'),
      'n.actor_id',
      'a.username as actor_username',
      'a.display_name as actor_display_name',
      'a.avatar_url as actor_avatar_url',
    ]);
}

// Compiled once: the gateway reads every new notification after commit.
const notificationStatement = prepare((db, p: { id: string; userId: string }) =>
  withActor(db).where('n.id', '=', p.id).where('n.user_id', '=', p.userId),
);

export async function findNotification(db: Db, userId: string, id: string): Promise<NotificationRow | undefined> {
  const [row] = await notificationStatement(db, { id, userId });
  return row;
}

/**
 * One phase of the list, newest first, after (inserted_at, id) when given.
 *
 * The unread phase orders by `read_at DESC NULLS FIRST` as well: every row has read_at NULL
 * so it changes nothing, but it makes the ORDER BY the index's own order read backwards
 * (user_id, read_at, inserted_at), so PostgreSQL walks the index and stops after
 * limit + 1 rows (an incremental sort only orders ties on inserted_at by id). Without it
 * PostgreSQL cannot tell that `read_at IS NULL` fixes the column and sorts every unread
 * row of the user: O(unread) instead of O(page).
 */
export function listPhaseQuery(db: Db, userId: string, phase: Phase, limit: number, after?: readonly [string, string]) {
  let query = withActor(db)
    .where('n.user_id', '=', userId)
    .where('n.read_at', phase === 'unread' ? 'is' : 'is not', null);
  if (after) {
    query = query.where((eb) =>
      eb(eb.refTuple('n.inserted_at', 'n.id'), '<', eb.tuple(after[0] as never, after[1] as never)),
    );
  }
  if (phase === 'unread') query = query.orderBy('n.read_at', (ob) => ob.desc().nullsFirst());
  return query.orderBy('n.inserted_at', 'desc').orderBy('n.id', 'desc').limit(limit);
}

/**
 * The unread phase and, only when it does not fill `limit` rows, the read phase from its
 * start: ONE statement, one round trip. The read branch sits behind a one-time filter on
 * the materialised unread rows, so PostgreSQL does not run it at all when the unread
 * phase is full; the final sort orders at most 2 × `limit` rows.
 */
export function unreadThenReadQuery(db: Db, userId: string, limit: number, after?: readonly [string, string]) {
  const unread = listPhaseQuery(db, userId, 'unread', limit, after);
  const read = listPhaseQuery(db, userId, 'read', limit);
  return sql<NotificationRow & { phase: Phase }>`
    WITH unread AS MATERIALIZED (${unread})
    SELECT unread.*, 'unread' AS phase FROM unread
    UNION ALL
    SELECT r.*, 'read' AS phase FROM (${read}) AS r WHERE (SELECT count(*) FROM unread) < ${limit}
    ORDER BY phase DESC, inserted_at DESC, id DESC`;
}

export function listPhase(
  db: Db,
  userId: string,
  phase: Phase,
  limit: number,
  after?: readonly [string, string],
): Promise<NotificationRow[]> {
  return listPhaseQuery(db, userId, phase, limit, after).execute();
}

/** count(*) of the user's unread notifications: an index-only scan of the seed index. */
export function unreadCountQuery(db: Db, userId: string) {
  return db
    .selectFrom('notifications')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .where('read_at', 'is', null);
}

/** Marks every unread notification of the user read: ONE statement; returns the ids. */
export function markAllReadQuery(db: Db, userId: string) {
  return db
    .updateTable('notifications')
    .set({ read_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('user_id', '=', userId)
    .where('read_at', 'is', null);
}
