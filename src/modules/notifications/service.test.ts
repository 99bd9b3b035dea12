import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { countQueries, explainPlan, useTestDatabase } from '../../../test/db.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { DomainEvent, EventBus } from '../../events/bus.ts';
import { newId } from '../../lib/ids.ts';
import { listPhaseQuery, markAllReadQuery, unreadCountQuery, unreadThenReadQuery } from './queries.ts';
import { listNotifications, markAllRead, notify, unreadCount } from './service.ts';

const t = useTestDatabase();

function recordingBus(): EventBus & { seen: DomainEvent[] } {
  const seen: DomainEvent[] = [];
  return { seen, publish: (event) => void seen.push(event), subscribe: () => () => undefined, close: async () => undefined };
}

async function user(username: string): Promise<string> {
  const id = newId();
  await t.db.insertInto('users').values({ id, username, email: `${username}@example.com`, password_hash: 'x' }).execute();
  return id;
}

const plan = (statement: string, parameters: readonly unknown[]) => explainPlan(t, statement, parameters);

describe('notify', () => {
  it('creates in the caller’s transaction and announces after commit, never after a rollback', async () => {
    const [to, from] = [await user('nt_to'), await user('nt_from')];
    const events = recordingBus();
    const outcome = await transaction(db(), async (trx, ctx) => {
      const created = await notify(trx, { userId: to, type: 'mention', actorId: from, data: { message_id: 'm1' } }, { ctx, events });
      expect(events.seen).toEqual([]);
      return created;
    });
    expect(outcome.ok && outcome.value).toMatchObject({ userId: to, type: 'mention', actorId: from, data: { message_id: 'm1' }, readAt: null });
    expect(events.seen).toEqual([{ type: 'notification.created', userId: to, notificationId: outcome.ok && outcome.value!.id, notificationType: 'mention' }]);

    const rolledBack = recordingBus();
    await transaction(db(), async (trx, ctx) => {
      await notify(trx, { userId: to, type: 'reply', actorId: from }, { ctx, events: rolledBack });
      throw new Error('abort');
    }).catch(() => undefined);
    expect(rolledBack.seen).toEqual([]);
    expect(await unreadCount(t.db, to)).toBe(1);
  });

  it('skips the actor themselves and recipients who blocked the actor', async () => {
    const [me, blocker, other] = [await user('nt_me'), await user('nt_blocker'), await user('nt_other')];
    await t.db.insertInto('friendships').values({ user_id: blocker, friend_id: me, status: 'blocked' }).execute();
    expect(await notify(t.db, { userId: me, type: 'mention', actorId: me })).toBeUndefined();
    expect(await notify(t.db, { userId: blocker, type: 'mention', actorId: me })).toBeUndefined();
    // The block is directional: the blocker can still reach the blocked user.
    expect(await notify(t.db, { userId: me, type: 'mention', actorId: blocker })).toBeDefined();
    expect(await notify(t.db, { userId: other, type: 'mention', actorId: me })).toBeDefined();
    // System notifications have no actor.
    expect(await notify(t.db, { userId: blocker, type: 'message', data: {} })).toBeDefined();
    expect(await unreadCount(t.db, blocker)).toBe(1);
    await expect(notify(t.db, { userId: me, type: 'Bad-Type' })).rejects.toThrow(/invalid notification type/);
  });

  it('one unread notification per collapse key, refreshed in one statement; a new one once it is read', async () => {
    const [to, a, b] = [await user('nt_col_to'), await user('nt_col_a'), await user('nt_col_b')];
    const key = `conversation:${newId()}`;
    const first = await notify(t.db, { userId: to, type: 'message', actorId: a, data: { n: 1 }, collapseKey: key });
    const { result: second, queries } = await countQueries(t, () =>
      notify(t.db, { userId: to, type: 'message', actorId: b, data: { n: 2 }, collapseKey: key }),
    );
    expect(queries).toHaveLength(1);
    expect(second).toMatchObject({ id: first!.id, actorId: b, data: { n: 2 } });
    expect(await unreadCount(t.db, to)).toBe(1);
    await markAllRead(t.db, recordingBus(), to);
    const third = await notify(t.db, { userId: to, type: 'message', actorId: a, data: { n: 3 }, collapseKey: key });
    expect(third!.id).not.toBe(first!.id);
    expect(await t.db.selectFrom('notifications').select('id').where('user_id', '=', to).execute()).toHaveLength(2);
  });
});

function db() {
  return t.db;
}

describe('the list', () => {
  it('unread first then newest, pages across the unread → read boundary without loss or repeat', async () => {
    const me = await user('nt_list');
    // 7 notifications, one a minute; the 2nd, 4th and 7th newest are read.
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const id = newId();
      ids.push(id);
      await t.db
        .insertInto('notifications')
        .values({ id, user_id: me, type: 'mention', inserted_at: sql<Date>`now() - make_interval(mins => ${7 - i})`, read_at: [5, 3, 0].includes(i) ? sql<Date>`now()` : null })
        .execute();
    }
    const newestFirst = [...ids].reverse();
    const unread = newestFirst.filter((_, i) => ![1, 3, 6].includes(i));
    const read = newestFirst.filter((_, i) => [1, 3, 6].includes(i));

    const all = (await listNotifications(t.db, me, { limit: 50 })).data.map((n) => n.id);
    expect(all).toEqual([...unread, ...read]);

    for (const limit of [1, 2, 3, 4, 5]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<typeof listNotifications>> = await listNotifications(t.db, me, { limit, cursor });
        expect(page.data.length).toBeLessThanOrEqual(limit);
        seen.push(...page.data.map((n) => n.id));
        cursor = page.next_cursor;
        expect(++pages).toBeLessThan(20);
      } while (cursor);
      expect(seen).toEqual([...unread, ...read]);
    }

    const unreadOnly: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof listNotifications>> = await listNotifications(t.db, me, { limit: 2, cursor, unreadOnly: true });
      unreadOnly.push(...page.data.map((n) => n.id));
      expect(page.data.every((n) => n.read_at === null)).toBe(true);
      cursor = page.next_cursor;
    } while (cursor);
    expect(unreadOnly).toEqual(unread);
  });

  it('a forged or foreign cursor is 400 invalid_cursor, never a database error', async () => {
    const me = await user('nt_cursor');
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const cursor of ['!!', b64(['x', '2024-01-01 00:00:00+00', newId()]), b64(['u', 'yesterday', newId()]), b64(['u', '2024-13-45 99:99:99+00', newId()]), b64(['r', '2024-01-01 00:00:00+00', 'nope']), b64([newId()])]) {
      await expect(listNotifications(t.db, me, { limit: 10, cursor })).rejects.toMatchObject({ code: 'invalid_cursor', status: 400 });
    }
    await expect(listNotifications(t.db, me, { limit: 10, unreadOnly: true, cursor: b64(['r', '2024-01-01 00:00:00+00', newId()]) })).rejects.toMatchObject({ code: 'invalid_cursor' });
  });

  it('is served by the indexes: no sort over the whole set', async () => {
    // Enough rows, analysed, that the planner's estimates are those of a real user.
    const me = await user('nt_plan');
    await t.db
      .insertInto('notifications')
      .columns(['user_id', 'type', 'inserted_at', 'read_at'])
      .expression(sql`SELECT ${me}::uuid, 'mention', now() - g * interval '1 minute', CASE WHEN g % 2 = 0 THEN now() END FROM generate_series(1, 4000) AS g` as never)
      .execute();
    await sql`VACUUM ANALYZE notifications`.execute(t.db);
    for (const after of [undefined, [new Date(Date.now() - 3600_000).toISOString(), newId()] as const]) {
      const unread = listPhaseQuery(t.db, me, 'unread', 51, after).compile();
      const unreadPlan = await plan(unread.sql, unread.parameters);
      expect(unreadPlan).toMatch(/Index Scan Backward using notifications_user_id_read_at_inserted_at_index/);
      // At most an incremental sort of ties on inserted_at by id, never a sort of every unread row.
      expect(unreadPlan).not.toMatch(/^\s*->\s*Sort\b/m);
    }
    // A first page is one statement, and its read branch does not run when unread rows fill it.
    const { queries } = await countQueries(t, () => listNotifications(t.db, me, { limit: 50 }));
    expect(queries).toHaveLength(1);
    const first = unreadThenReadQuery(t.db, me, 51).compile(t.db);
    const firstPlan = await plan(`(ANALYZE) ${first.sql}`, first.parameters);
    expect(firstPlan).toMatch(/Index Scan using notifications_user_id_inserted_at_id_index on notifications n .*\(never executed\)/);
    expect(firstPlan).toMatch(/Index Scan Backward using notifications_user_id_read_at_inserted_at_index/);
    const read = listPhaseQuery(t.db, me, 'read', 51).compile();
    const readPlan = await plan(read.sql, read.parameters);
    expect(readPlan).toContain('notifications_user_id_inserted_at_id_index');
    expect(readPlan).not.toMatch(/Sort/);
    const count = unreadCountQuery(t.db, me).compile();
    expect(await plan(count.sql, count.parameters)).toMatch(/Index Only Scan using notifications_user_id_read_at_inserted_at_index/);
    const readAll = markAllReadQuery(t.db, me).compile();
    expect(await plan(readAll.sql, readAll.parameters)).toContain('notifications_user_id_read_at_inserted_at_index');
  });

  it('marks all read in one statement', async () => {
    const me = await user('nt_all');
    await t.db
      .insertInto('notifications')
      .columns(['user_id', 'type'])
      .expression(sql`SELECT ${me}::uuid, 'mention' FROM generate_series(1, 300)` as never)
      .execute();
    const events = recordingBus();
    const { result, queries } = await countQueries(t, () => markAllRead(t.db, events, me));
    expect(result).toBe(300);
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/^update "notifications" set/);
    expect(await unreadCount(t.db, me)).toBe(0);
    expect(events.seen).toEqual([{ type: 'notifications.read', userId: me, notificationIds: 'all' }]);
  });
});
