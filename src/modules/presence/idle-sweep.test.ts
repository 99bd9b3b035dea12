import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { countQueries, useTestDatabase } from '../../../test/db.ts';
import { newId } from '../../lib/ids.ts';
import { idleSweepQuery, markIdleUsers } from './idle-sweep.ts';

const t = useTestDatabase();

type Status = 'online' | 'idle' | 'dnd' | 'offline';

async function user(username: string, status: Status, inactiveFor: string | null) {
  await t.db
    .insertInto('users')
    .values({
      id: newId(),
      username,
      email: `${username}@example.com`,
      password_hash: 'x',
      status,
      last_active_at: inactiveFor === null ? null : sql<Date>`now() - ${inactiveFor}::interval`,
    })
    .execute();
}

async function statuses(): Promise<Record<string, string>> {
  const rows = await t.db.selectFrom('users').select(['username', 'status']).execute();
  return Object.fromEntries(rows.map((row) => [row.username, row.status]));
}

describe('markIdleUsers', () => {
  it('turns only stale online users idle, in one statement', async () => {
    await user('stale_online', 'online', '2 hours');
    await user('stale_online_2', 'online', '61 minutes');
    await user('fresh_online', 'online', '5 minutes');
    await user('never_active', 'online', null);
    await user('stale_offline', 'offline', '3 hours');
    await user('stale_dnd', 'dnd', '3 hours');
    await user('stale_idle', 'idle', '3 hours');

    const { result, queries } = await countQueries(t, () => markIdleUsers(t.db));
    expect(result).toBe(2);
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(
      /^update "users" set "status" = \$1 where "status" = \$2 and "last_active_at" < now\(\)/,
    );
    expect(await statuses()).toEqual({
      stale_online: 'idle',
      stale_online_2: 'idle',
      fresh_online: 'online',
      never_active: 'online',
      stale_offline: 'offline',
      stale_dnd: 'dnd',
      stale_idle: 'idle',
    });

    expect(await markIdleUsers(t.db)).toBe(0);
    expect(await markIdleUsers(t.db, 60)).toBe(1);
    expect((await statuses()).fresh_online).toBe('idle');
  });

  it('can be answered from the partial index users_last_active_at_online_index', async () => {
    // A handful of rows would always be scanned sequentially, so seq scans are priced out
    // for this one transaction: the question is whether the index fits the WHERE at all.
    const compiled = idleSweepQuery(t.db).compile();
    const client = await t.pool.connect();
    let plan: string;
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_seqscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${compiled.sql}`, [
        ...compiled.parameters,
      ]);
      plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    expect(plan).toContain('users_last_active_at_online_index');
  });
});
