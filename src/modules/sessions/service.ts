// The sessions context: issue, authenticate, list and revoke bearer-token sessions.
// Absolute expiry (SESSION_TTL) and an idle timeout (SESSION_IDLE_TIMEOUT); activity is
// written at most once a minute per session, never on every request.
import type { Selectable } from 'kysely';
import type { Db, DB } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { NotFoundError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { deleteExpiredSessions, findLiveSessionByToken, listLiveSessions, touchSession } from './queries.ts';
import { hashToken, isWellFormedToken, newToken } from './tokens.ts';

export const TOUCH_INTERVAL_MS = 60_000;

export interface SessionPolicy {
  ttlMs: number;
  idleTimeoutMs: number;
}

export interface RequestMeta {
  userAgent: string | undefined;
  ip: string | undefined;
}

export type AuthUser = Pick<
  Selectable<DB['users']>,
  'id' | 'email' | 'username' | 'display_name' | 'avatar_url' | 'status' | 'custom_status' | 'wallet_address' | 'is_admin' | 'inserted_at'
>;

export interface Authenticated {
  user: AuthUser;
  sessionId: string;
}

export interface SessionView {
  id: string;
  user_agent: string | null;
  ip_address: string | null;
  last_active_at: Date;
  expires_at: Date;
  current: boolean;
}

const idleCutoff = (policy: SessionPolicy) => new Date(Date.now() - policy.idleTimeoutMs);

/** Starts a session; the token is returned once and never stored. Joins the caller's transaction. */
export async function createSession(
  db: Db,
  policy: SessionPolicy,
  userId: string,
  meta: RequestMeta,
): Promise<{ token: string; sessionId: string }> {
  const token = newToken();
  const sessionId = newId();
  await db
    .insertInto('sessions')
    .values({
      id: sessionId,
      user_id: userId,
      token: hashToken(token),
      user_agent: meta.userAgent?.slice(0, 512) ?? null,
      ip_address: meta.ip?.slice(0, 64) ?? null,
      expires_at: new Date(Date.now() + policy.ttlMs),
    })
    .execute();
  return { token, sessionId };
}

export interface LiveSession {
  auth: Authenticated;
  expiresAt: Date;
  lastActiveAt: Date;
}

/**
 * The live session behind a bearer token: one indexed lookup, plus the activity write at
 * most once a minute. SessionAuthenticator caches what this returns.
 */
export async function lookupSession(db: Db, policy: SessionPolicy, token: string): Promise<LiveSession | undefined> {
  if (!isWellFormedToken(token)) return undefined;
  const [row] = await findLiveSessionByToken(db, { token: hashToken(token), idleCutoff: idleCutoff(policy) });
  if (!row) return undefined;
  let lastActiveAt = row.session_last_active_at;
  if (Date.now() - lastActiveAt.getTime() > TOUCH_INTERVAL_MS) {
    await touchSession(db, { id: row.session_id, cutoff: new Date(Date.now() - TOUCH_INTERVAL_MS) });
    lastActiveAt = new Date();
  }
  const { session_id, session_last_active_at: _a, session_expires_at, ...user } = row;
  return { auth: { user, sessionId: session_id }, expiresAt: session_expires_at, lastActiveAt };
}

/** The user behind a bearer token, or undefined (uncached; requests go through SessionAuthenticator). */
export async function authenticate(db: Db, policy: SessionPolicy, token: string): Promise<Authenticated | undefined> {
  return (await lookupSession(db, policy, token))?.auth;
}

export async function listSessions(db: Db, policy: SessionPolicy, userId: string, currentSessionId: string): Promise<SessionView[]> {
  const rows = await listLiveSessions(db, userId, idleCutoff(policy));
  return rows.map((row) => ({
    id: row.id,
    user_agent: row.user_agent,
    ip_address: row.ip_address,
    last_active_at: row.last_active_at,
    expires_at: row.expires_at,
    current: row.id === currentSessionId,
  }));
}

/** Revokes one of the user's sessions; another user's session id is "not found". */
export async function revokeSession(db: Db, events: EventBus, userId: string, sessionId: string): Promise<void> {
  const result = await db.deleteFrom('sessions').where('id', '=', sessionId).where('user_id', '=', userId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('session');
  events.publish({ type: 'sessions.revoked', userId, sessionIds: [sessionId] });
}

/** Revokes every session of the user except `keepSessionId` (password change). */
export async function revokeOtherSessions(db: Db, userId: string, keepSessionId: string | undefined): Promise<string[]> {
  let query = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (keepSessionId) query = query.where('id', '<>', keepSessionId);
  const rows = await query.returning('id').execute();
  return rows.map((r) => r.id);
}

export function sweepExpiredSessions(db: Db, policy: SessionPolicy): Promise<number> {
  return deleteExpiredSessions(db, idleCutoff(policy));
}
