import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { countQueries, useTestDatabase } from '../../../test/db.ts';
import { newId } from '../../lib/ids.ts';
import { authenticate, createSession, sweepExpiredSessions } from './service.ts';

const t = useTestDatabase();
const policy = { ttlMs: 30 * 86_400_000, idleTimeoutMs: 14 * 86_400_000 };
const meta = { userAgent: 'test', ip: '127.0.0.1' };

async function user(name: string): Promise<string> {
  const id = newId();
  await t.db.insertInto('users').values({ id, username: name, email: `${name}@example.com`, password_hash: 'x', status: 'offline' }).execute();
  return id;
}

describe('sessions', () => {
  it('stores only the SHA-256 of the token, and the token authenticates in one query', async () => {
    const id = await user('stored');
    const { token, sessionId } = await createSession(t.db, policy, id, meta);
    const row = await t.db.selectFrom('sessions').selectAll().where('id', '=', sessionId).executeTakeFirstOrThrow();
    expect(row.token).toHaveLength(32);
    expect(row.token.toString('base64url')).not.toBe(token);
    const { result, queries } = await countQueries(t, () => authenticate(t.db, policy, token));
    expect(result?.user.id).toBe(id);
    expect(queries).toHaveLength(1);
    // Another token: its last character changed (to one it is not: a token ending in `A`
    // kept its value and authenticated, 1 run in 64).
    const other = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    expect(await authenticate(t.db, policy, other)).toBeUndefined();
  });

  it('the sweep deletes expired and idle sessions and keeps live ones', async () => {
    const id = await user('swept');
    const live = await createSession(t.db, policy, id, meta);
    const expired = await createSession(t.db, policy, id, meta);
    const idle = await createSession(t.db, policy, id, meta);
    await sql`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = ${expired.sessionId}`.execute(t.db);
    await sql`UPDATE sessions SET last_active_at = now() - interval '15 days' WHERE id = ${idle.sessionId}`.execute(t.db);
    expect(await sweepExpiredSessions(t.db, policy)).toBe(2);
    const left = await t.db.selectFrom('sessions').select('id').where('user_id', '=', id).execute();
    expect(left.map((r) => r.id)).toEqual([live.sessionId]);
  });
});
