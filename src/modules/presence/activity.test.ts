import Fastify from 'fastify';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { buildApp } from '../../app.ts';
import { countQueries } from '../../../test/db.ts';
import type { DomainEvent, EventBus } from '../../events/bus.ts';
import { ActivityTracker, presenceTracking, touchPresence } from './activity.ts';
import { markIdleUsers } from './idle-sweep.ts';

const api = useTestApp();

const lastActive = async (id: string) =>
  (await api.t.db.selectFrom('users').select('last_active_at').where('id', '=', id).executeTakeFirstOrThrow()).last_active_at;

describe('activity tracking', () => {
  it('touchPresence writes at most once per interval, many users in one statement', async () => {
    const { user } = await api.register('pr_touch');
    const { user: other } = await api.register('pr_touch2');
    await api.t.db.updateTable('users').set({ last_active_at: null }).where('id', 'in', [user.id, other.id]).execute();
    const { result, queries } = await countQueries(api.t, () => touchPresence(api.t.db, [user.id, other.id]));
    expect(result).toBe(2);
    expect(queries).toHaveLength(1);
    expect(await lastActive(user.id)).toBeInstanceOf(Date);
    expect(await touchPresence(api.t.db, user.id)).toBe(0);
    await api.t.db.updateTable('users').set({ last_active_at: sql<Date>`now() - interval '2 minutes'` }).where('id', '=', user.id).execute();
    expect(await touchPresence(api.t.db, [user.id, other.id])).toBe(1);
    expect(await touchPresence(api.t.db, [])).toBe(0);
  });

  it('the tracker notes users in memory and writes them in one statement per flush', async () => {
    const a = (await api.register('pr_tracker_a')).user.id;
    const b = (await api.register('pr_tracker_b')).user.id;
    await api.t.db.updateTable('users').set({ last_active_at: null }).where('id', 'in', [a, b]).execute();
    const tracker = new ActivityTracker(api.t.db, { intervalMs: 60_000 });
    const noting = await countQueries(api.t, async () => {
      tracker.seen(a, 1_000_000);
      tracker.seen(b, 1_000_000);
      tracker.seen(a, 1_030_000);
    });
    expect(noting.queries).toHaveLength(0);
    const flushed = await countQueries(api.t, () => tracker.flush());
    expect(flushed.result).toBe(2);
    expect(flushed.queries).toHaveLength(1);
    expect(await tracker.flush()).toBe(0);
    // Within the interval the tracker does not even note the user again; after it, it does.
    tracker.seen(a, 1_050_000);
    expect(await countQueries(api.t, () => tracker.flush())).toMatchObject({ queries: [] });
    tracker.seen(a, 1_061_000);
    expect((await countQueries(api.t, () => tracker.flush())).queries).toHaveLength(1);
  });

  it('the hook notes authenticated requests and the app writes them when it closes; the idle sweep reads them', async () => {
    const { user } = await api.register('pr_request');
    await api.t.db.updateTable('users').set({ status: 'online', last_active_at: null }).where('id', '=', user.id).execute();
    const app = Fastify();
    await app.register(presenceTracking({ db: api.t.db, logger: api.t.logger }));
    app.decorateRequest('auth', undefined);
    app.get('/who', async (request) => {
      request.auth = { user: { id: user.id } as never, sessionId: 'x' };
      return { ok: true };
    });
    app.get('/anonymous', async () => ({ ok: true }));
    expect((await app.inject({ method: 'GET', url: '/anonymous' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/who' })).statusCode).toBe(200);
    expect(await lastActive(user.id)).toBeNull();
    await app.close();
    expect(await lastActive(user.id)).toBeInstanceOf(Date);

    // Wired into the real app: any authenticated API request counts.
    const { token } = await api.register('pr_wired');
    const wiredId = (await api.t.db.selectFrom('users').select('id').where('username', '=', 'pr_wired').executeTakeFirstOrThrow()).id;
    await api.t.db.updateTable('users').set({ last_active_at: null }).where('id', '=', wiredId).execute();
    const real = await buildApp({ config: api.t.config, database: api.t, logger: api.t.logger });
    expect((await real.inject({ method: 'GET', url: '/api/v1/notifications/unread_count', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
    await real.close();
    expect(await lastActive(wiredId)).toBeInstanceOf(Date);

    // Two hours of silence later, the sweep turns the user idle and says so.
    await api.t.db.updateTable('users').set({ last_active_at: sql<Date>`now() - interval '2 hours'` }).where('id', '=', user.id).execute();
    const seen: DomainEvent[] = [];
    const events: EventBus = { publish: (event) => void seen.push(event), subscribe: () => () => undefined, close: async () => undefined };
    expect(await markIdleUsers(api.t.db, undefined, events)).toBeGreaterThanOrEqual(1);
    expect(seen).toContainEqual({ type: 'presence.updated', userId: user.id, status: 'idle' });
    const row = await api.t.db.selectFrom('users').select('status').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('idle');
  });
});
