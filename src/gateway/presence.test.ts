// Presence from gateway connections: announced once when the first connection opens, not
// again for a second one, offline only after the grace period once the last closes (not
// at all when the user comes back within it), to friends and to members of shared groups;
// invisible users are never announced. Two apps on one database model two nodes.
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestApp } from '../../test/app-harness.ts';
import { buildApp } from '../app.ts';
import { markIdleUsers } from '../modules/presence/idle-sweep.ts';
import { sweepStalePresence } from './presence.ts';
import { listen, settle, TestClient, type Frame } from './testing.ts';

const api = useTestApp({ GATEWAY_FANOUT: 'in-process', PRESENCE_OFFLINE_GRACE: '300ms' });

let url = '';
const connect = async (token: string, at?: string) => {
  url ||= await listen(api.app);
  const client = await TestClient.open(at ?? url);
  await client.identify(token);
  return client;
};

async function befriend(
  a: { token: string },
  b: { token: string; user: { username: string } },
): Promise<void> {
  const res = await api.call({
    method: 'POST',
    url: '/api/v1/friends/requests',
    token: a.token,
    payload: { username: b.user.username },
  });
  const id = res.json<{ id: string }>().id;
  expect(
    (await api.call({ method: 'POST', url: `/api/v1/friends/requests/${id}/accept`, token: b.token }))
      .statusCode,
  ).toBe(200);
}

const presenceOf = (client: TestClient, userId: string) =>
  client
    .events('presence.updated')
    .filter((f: Frame) => f.data?.user_id === userId)
    .map((f) => f.data?.status);

describe('presence', () => {
  it('announces online once for several connections, offline after the grace period', async () => {
    const a = await api.register('pr_a');
    const b = await api.register('pr_b');
    await befriend(a, b);
    const watcher = await connect(b.token);
    expect(watcher.frames.find((f) => f.op === 'ready')?.rooms).toContain(`presence:${a.user.id}`);

    const first = await connect(a.token);
    await watcher.event('presence.updated', (f) => f.data?.user_id === a.user.id);
    const second = await connect(a.token);
    await settle(200);
    expect(presenceOf(watcher, a.user.id)).toEqual(['online']);

    first.close();
    await settle(500);
    expect(presenceOf(watcher, a.user.id)).toEqual(['online']);
    second.close();
    // Back within the grace period: nothing announced.
    await second.waitClosed();
    const third = await connect(a.token);
    await settle(500);
    expect(presenceOf(watcher, a.user.id)).toEqual(['online']);
    third.close();
    await watcher.event(
      'presence.updated',
      (f) => f.data?.user_id === a.user.id && f.data.status === 'offline',
    );
    expect(presenceOf(watcher, a.user.id)).toEqual(['online', 'offline']);
  });

  it('keeps dnd as chosen, lets a connected user turn invisible, and tells no strangers', async () => {
    const a = await api.register('pr_dnd');
    const b = await api.register('pr_friend');
    const stranger = await api.register('pr_stranger');
    await befriend(a, b);
    const watcher = await connect(b.token);
    const outsider = await connect(stranger.token);
    await api.call({ method: 'PATCH', url: '/api/v1/me', token: a.token, payload: { status: 'dnd' } });
    const socket = await connect(a.token);
    await watcher.event('presence.updated', (f) => f.data?.user_id === a.user.id && f.data.status === 'dnd');
    socket.close();
    await watcher.event(
      'presence.updated',
      (f) => f.data?.user_id === a.user.id && f.data.status === 'offline',
    );
    const me = await api.call({ method: 'GET', url: '/api/v1/me', token: a.token });
    expect(me.json<{ status: string }>().status).toBe('dnd');

    await api.call({ method: 'PATCH', url: '/api/v1/me', token: a.token, payload: { status: 'online' } });
    const visible = await connect(a.token);
    await watcher.event(
      'presence.updated',
      (f) => f.data?.user_id === a.user.id && f.data.status === 'online',
    );
    await api.call({ method: 'PATCH', url: '/api/v1/me', token: a.token, payload: { status: 'offline' } });
    await expect.poll(() => presenceOf(watcher, a.user.id)).toEqual(['dnd', 'offline', 'online', 'offline']);
    const secondTab = await connect(a.token); // does not undo invisibility
    await settle(300);
    secondTab.close();
    visible.close();
    await settle(600);
    expect(presenceOf(watcher, a.user.id)).toEqual(['dnd', 'offline', 'online', 'offline']);
    expect(outsider.events('presence.updated')).toEqual([]);
  });

  it('reaches members of a shared group, and stops when the friendship ends', async () => {
    const a = await api.register('pr_grp_a');
    const b = await api.register('pr_grp_b');
    const c = await api.register('pr_grp_c');
    // A shared group, written directly: the group routes belong to another module.
    const { rows } = await sql<{
      id: string;
    }>`INSERT INTO groups (name, owner_id) VALUES ('g', ${a.user.id}) RETURNING id`.execute(api.t.db);
    await sql`INSERT INTO group_members (group_id, user_id) VALUES (${rows[0]!.id}, ${a.user.id}), (${rows[0]!.id}, ${c.user.id})`.execute(
      api.t.db,
    );
    await befriend(a, b);
    const [wb, wc] = [await connect(b.token), await connect(c.token)];
    const online = await connect(a.token);
    await wb.event('presence.updated', (f) => f.data?.user_id === a.user.id);
    await wc.event('presence.updated', (f) => f.data?.user_id === a.user.id);

    await api.call({ method: 'DELETE', url: `/api/v1/friends/${a.user.id}`, token: b.token });
    await expect.poll(() => wb.frames.some((f) => f.type === 'friendship.removed')).toBe(true);
    await settle(100);
    online.close();
    await wc.event('presence.updated', (f) => f.data?.user_id === a.user.id && f.data.status === 'offline');
    expect(presenceOf(wb, a.user.id)).toEqual(['online']);
  });

  it('puts friends’ statuses in ready: not offline ones, not co-members, not strangers', async () => {
    const me = await api.register('pr_snap_me');
    const friend = await api.register('pr_snap_friend'); // connected: online
    const busy = await api.register('pr_snap_busy'); // dnd, not connected
    const away = await api.register('pr_snap_away'); // never connected: offline
    const coMember = await api.register('pr_snap_member'); // shares a group, connected
    const stranger = await api.register('pr_snap_stranger'); // connected, shares nothing
    for (const other of [friend, busy, away]) await befriend(me, other);
    const { rows } = await sql<{
      id: string;
    }>`INSERT INTO groups (name, owner_id) VALUES ('g', ${me.user.id}) RETURNING id`.execute(api.t.db);
    await sql`INSERT INTO group_members (group_id, user_id) VALUES (${rows[0]!.id}, ${me.user.id}), (${rows[0]!.id}, ${coMember.user.id})`.execute(
      api.t.db,
    );
    await api.call({ method: 'PATCH', url: '/api/v1/me', token: busy.token, payload: { status: 'dnd' } });
    const sockets = [await connect(friend.token), await connect(coMember.token), await connect(stranger.token)];
    const connected = [friend.user.id, coMember.user.id, stranger.user.id];
    await expect
      .poll(async () => {
        const online = await api.t.db
          .selectFrom('users')
          .select('id')
          .where('status', '=', 'online')
          .where('id', 'in', connected)
          .execute();
        return online.length;
      })
      .toBe(3);

    const before = await connect(me.token);
    const ready = before.frames.find((f) => f.op === 'ready')!;
    expect(ready.rooms).toContain(`presence:${coMember.user.id}`); // hears it, by events only
    const expected = [
      { user_id: friend.user.id, status: 'online' },
      { user_id: busy.user.id, status: 'dnd' },
    ].sort((x, y) => x.user_id.localeCompare(y.user_id));
    expect(ready.presences).toEqual(expected);

    const block = await api.call({
      method: 'POST',
      url: '/api/v1/blocks',
      token: me.token,
      payload: { username: 'pr_snap_friend' },
    });
    expect(block.statusCode).toBe(204);
    const after = await connect(me.token);
    expect(after.frames.find((f) => f.op === 'ready')!.presences).toEqual([
      { user_id: busy.user.id, status: 'dnd' },
    ]);
    for (const s of [before, after, ...sockets]) s.close();
  });

  it('turns a swept idle back online on connect, and the idle sweep announces idle', async () => {
    const a = await api.register('pr_idle_a');
    const b = await api.register('pr_idle_b');
    await befriend(a, b);
    const watcher = await connect(b.token);
    const socket = await connect(a.token);
    await watcher.event(
      'presence.updated',
      (f) => f.data?.user_id === a.user.id && f.data.status === 'online',
    );
    await sql`UPDATE users SET last_active_at = now() - interval '2 hours' WHERE id = ${a.user.id}`.execute(
      api.t.db,
    );
    // The app's bus stands in for the worker's: the sweep's events become room events.
    expect(await markIdleUsers(api.t.db, 3600, api.app.gatewayEvents)).toBeGreaterThanOrEqual(1);
    await watcher.event('presence.updated', (f) => f.data?.user_id === a.user.id && f.data.status === 'idle');
    socket.close();
    await watcher.event(
      'presence.updated',
      (f) => f.data?.user_id === a.user.id && f.data.status === 'offline',
    );
    await connect(a.token);
    await expect.poll(() => presenceOf(watcher, a.user.id)).toEqual(['online', 'idle', 'offline', 'online']);
  });

  it('counts connections across nodes: offline only when the last node lets go', async () => {
    const other = await buildApp({ config: api.t.config, database: api.t, logger: api.t.logger });
    try {
      const otherUrl = await listen(other);
      const a = await api.register('pr_node_a');
      const b = await api.register('pr_node_b');
      await befriend(a, b);
      const watcher = await connect(b.token);
      const onOne = await connect(a.token);
      await watcher.event('presence.updated', (f) => f.data?.user_id === a.user.id);
      const onTwo = await connect(a.token, otherUrl);
      onOne.close();
      await settle(700);
      expect(presenceOf(watcher, a.user.id)).toEqual(['online']);
      onTwo.close();
      await watcher.event(
        'presence.updated',
        (f) => f.data?.user_id === a.user.id && f.data.status === 'offline',
      );

      // A node that died leaves stale rows: the sweep announces the user offline.
      const again = await connect(a.token, otherUrl);
      await watcher.event(
        'presence.updated',
        (f) => f.data?.user_id === a.user.id && f.data.status === 'online' && f.seq! > 0,
        5000,
      );
      await expect.poll(() => presenceOf(watcher, a.user.id).length).toBe(3);
      await sql`UPDATE gateway_presence SET seen_at = now() - interval '1 hour' WHERE user_id = ${a.user.id}`.execute(
        api.t.db,
      );
      expect(await sweepStalePresence(api.t.db, api.app.gatewayEvents)).toEqual([a.user.id]);
      await expect
        .poll(() => presenceOf(watcher, a.user.id))
        .toEqual(['online', 'offline', 'online', 'offline']);
      again.close();
    } finally {
      await other.close();
    }
  });
});
