import { describe, expect, it } from 'vitest';
import { countQueries, explainPlan, useTestDatabase } from '../../../test/db.ts';
import { newId } from '../../lib/ids.ts';
import { blockDirections, blockedEitherWay, blockedEitherWayAmong, blockersAmong, hasBlocked } from './blocks.ts';

const t = useTestDatabase();

async function user(username: string): Promise<string> {
  const id = newId();
  await t.db.insertInto('users').values({ id, username, email: `${username}@example.com`, password_hash: 'x' }).execute();
  return id;
}

const blockOf = (blocker: string, blocked: string) =>
  t.db.insertInto('friendships').values({ user_id: blocker, friend_id: blocked, status: 'blocked' }).execute();

const plan = (statement: string, parameters: readonly unknown[]) => explainPlan(t, statement, parameters);

describe('the block rule', () => {
  it('answers one direction, either direction, and many users at once', async () => {
    const [a, b, c, d] = [await user('blk_a'), await user('blk_b'), await user('blk_c'), await user('blk_d')];
    await blockOf(a, b);
    await blockOf(c, a);
    // A friendship is not a block.
    await t.db.insertInto('friendships').values({ user_id: a, friend_id: d, status: 'accepted', accepted_at: new Date() }).execute();

    expect(await hasBlocked(t.db, a, b)).toBe(true);
    expect(await hasBlocked(t.db, b, a)).toBe(false);
    expect(await blockedEitherWay(t.db, a, b)).toBe(true);
    expect(await blockedEitherWay(t.db, b, a)).toBe(true);
    expect(await blockedEitherWay(t.db, a, c)).toBe(true);
    expect(await blockedEitherWay(t.db, a, d)).toBe(false);
    expect(await blockedEitherWay(t.db, b, c)).toBe(false);
    expect(await blockedEitherWay(t.db, a, a)).toBe(false);
    expect(await blockDirections(t.db, a, c)).toEqual({ aBlockedB: false, bBlockedA: true });

    expect(await blockedEitherWayAmong(t.db, a, [b, c, d, a, b])).toEqual(new Set([b, c]));
    expect(await blockedEitherWayAmong(t.db, d, [a, b, c])).toEqual(new Set());
    expect(await blockedEitherWayAmong(t.db, a, [])).toEqual(new Set());
    // Who of these recipients blocked the actor a? Only c.
    expect(await blockersAmong(t.db, a, [b, c, d])).toEqual(new Set([c]));
  });

  it('both directional probes are served by friendships_block_index', async () => {
    const a = newId();
    const b = newId();
    const { queries } = await countQueries(t, () => blockedEitherWay(t.db, a, b));
    expect(queries).toHaveLength(1);
    const either = await plan(queries[0]!, [a, b, b, a]);
    expect(either.match(/friendships_block_index/g)).toHaveLength(2);
    // "Who blocked me": the seed's (friend_id, status) index.
    const blockers = t.db.selectFrom('friendships').select('user_id').where('status', '=', 'blocked').where('friend_id', '=', a).compile();
    expect(await plan(blockers.sql, blockers.parameters)).toMatch(/friendships_friend_id_status_index|friendships_block_index/);
  });
});
