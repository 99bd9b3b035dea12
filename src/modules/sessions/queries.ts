// Plain Kysely for the sessions table. The per-request lookup is a prepared query: one
// indexed probe of sessions_token_index joined to the user's primary key.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';

export const sessionColumns = ['id', 'user_id', 'user_agent', 'ip_address', 'expires_at', 'last_active_at', 'inserted_at'] as const;

/** The live session of a token hash, with its user: expiry and idle timeout checked in SQL. */
export const findLiveSessionByToken = prepare((db, p: { token: Buffer; idleCutoff: Date }) =>
  db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select([
      's.id as session_id',
      's.last_active_at as session_last_active_at',
      's.expires_at as session_expires_at',
      'u.id',
      'u.email',
      'u.username',
      'u.display_name',
      'u.avatar_url',
      'u.status',
      'u.custom_status',
      'u.wallet_address',
      'u.is_admin',
      'u.inserted_at',
    ])
    .where('s.token', '=', p.token)
    .where('s.expires_at', '>', sql<Date>`now()`)
    .where('s.last_active_at', '>', p.idleCutoff),
);

/** Records activity at most once a minute per session: the WHERE makes repeats no-ops. */
export const touchSession = prepare((db, p: { id: string; cutoff: Date }) =>
  db
    .updateTable('sessions')
    .set({ last_active_at: sql<Date>`now()` })
    .where('id', '=', p.id)
    .where('last_active_at', '<', p.cutoff),
);

export function listLiveSessions(db: Db, userId: string, idleCutoff: Date) {
  return db
    .selectFrom('sessions')
    .select(sessionColumns)
    .where('user_id', '=', userId)
    .where('expires_at', '>', sql<Date>`now()`)
    .where('last_active_at', '>', idleCutoff)
    .orderBy('last_active_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1000)
    .execute();
}

/** The expired-session sweep (run by the jobs issue's scheduler). */
export async function deleteExpiredSessions(db: Db, idleCutoff: Date): Promise<number> {
  const result = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', sql<Date>`now()`), eb('last_active_at', '<=', idleCutoff)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
