// The seed's batch update: online users who have not been active for a while become idle,
// in ONE statement rather than a read-then-update loop (which would race with activity
// arriving in between and cost a round trip per user).
//
// The seed's example filters `status == :offline`, which would turn offline users idle:
// that cannot be what "mark idle" means. The sweep takes online → idle; dnd and offline
// are the user's own choice or state and are left alone.
//
// The cutoff is computed by PostgreSQL (now() - interval), the same clock that stamps
// activity, so app-server clock skew cannot shift it. The partial index
// users_last_active_at_online_index (last_active_at WHERE status = 'online') serves the
// WHERE clause however many users are offline. A NULL last_active_at (never active) does
// not compare as older, so those rows are left alone. updated_at is not touched, as Ecto's
// update_all would not: a presence change is not an edit of the user's profile.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';

export const DEFAULT_IDLE_AFTER_SECONDS = 60 * 60;

/** The sweep's UPDATE, unexecuted (EXPLAIN it to see the index at work). */
export function idleSweepQuery(db: Db, idleAfterSeconds = DEFAULT_IDLE_AFTER_SECONDS) {
  return db
    .updateTable('users')
    .set({ status: 'idle' })
    .where('status', '=', 'online')
    .where('last_active_at', '<', sql<Date>`now() - make_interval(secs => ${idleAfterSeconds})`);
}

/**
 * Marks idle every online user inactive for `idleAfterSeconds`; returns how many. Given the
 * event bus, the same statement returns the ids and each gets a `presence.updated` event
 * (after the statement, which commits on its own).
 */
export async function markIdleUsers(db: Db, idleAfterSeconds = DEFAULT_IDLE_AFTER_SECONDS, events?: EventBus): Promise<number> {
  if (events) {
    const rows = await idleSweepQuery(db, idleAfterSeconds).returning('id').execute();
    for (const { id } of rows) events.publish({ type: 'presence.updated', userId: id, status: 'idle' });
    return rows.length;
  }
  const result = await idleSweepQuery(db, idleAfterSeconds).executeTakeFirst();
  return Number(result.numUpdatedRows);
}
