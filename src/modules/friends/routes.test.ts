import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';

const api = useTestApp();

type Registered = Awaited<ReturnType<typeof api.register>>;

const ask = (from: Registered, username: string) =>
  api.call({ method: 'POST', url: '/api/v1/friends/requests', token: from.token, payload: { username } });
const accept = (as: Registered, id: string) => api.call({ method: 'POST', url: `/api/v1/friends/requests/${id}/accept`, token: as.token });
const remove = (as: Registered, userId: string) => api.call({ method: 'DELETE', url: `/api/v1/friends/${userId}`, token: as.token });
const block = (as: Registered, username: string) => api.call({ method: 'POST', url: '/api/v1/blocks', token: as.token, payload: { username } });
const friendsOf = async (as: Registered) =>
  (await api.call({ method: 'GET', url: '/api/v1/friends', token: as.token })).json<{ data: Array<{ user: { username: string } }> }>().data.map((f) => f.user.username);
const requestsOf = async (as: Registered) =>
  (await api.call({ method: 'GET', url: '/api/v1/friends/requests', token: as.token })).json<{
    incoming: Array<{ id: string; user: { username: string } }>;
    outgoing: Array<{ id: string; user: { username: string } }>;
  }>();
const pairRows = (a: string, b: string) =>
  api.t.db
    .selectFrom('friendships')
    .selectAll()
    .where((eb) => eb.or([eb.and([eb('user_id', '=', a), eb('friend_id', '=', b)]), eb.and([eb('user_id', '=', b), eb('friend_id', '=', a)])]))
    .execute();
const notificationsOf = (userId: string) =>
  api.t.db.selectFrom('notifications').select(['type', 'actor_id', 'read_at']).where('user_id', '=', userId).orderBy('inserted_at').execute();

describe('friend requests', () => {
  it('201 pending, listed both ways, with a friend_request notification; accept → 200 and friend_accepted', async () => {
    const ann = await api.register('fr_ann');
    const bob = await api.register('fr_bob');
    const res = await ask(ann, 'FR_Bob');
    expect(res.statusCode).toBe(201);
    const request = res.json();
    expect(request).toMatchObject({ status: 'pending', direction: 'outgoing', user: { id: bob.user.id, username: 'fr_bob' }, accepted_at: null });
    expect(request.user).not.toHaveProperty('email');

    expect((await requestsOf(ann)).outgoing.map((r) => r.user.username)).toEqual(['fr_bob']);
    const incoming = await requestsOf(bob);
    expect(incoming.incoming).toMatchObject([{ id: request.id, direction: 'incoming', user: { username: 'fr_ann' } }]);
    expect(incoming.outgoing).toEqual([]);
    expect(await notificationsOf(bob.user.id)).toMatchObject([{ type: 'friend_request', actor_id: ann.user.id, read_at: null }]);

    const accepted = await accept(bob, request.id);
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ id: request.id, status: 'accepted', direction: 'incoming', user: { username: 'fr_ann' } });
    expect(accepted.json().accepted_at).toEqual(expect.any(String));
    expect(await friendsOf(ann)).toEqual(['fr_bob']);
    expect(await friendsOf(bob)).toEqual(['fr_ann']);
    expect(await notificationsOf(ann.user.id)).toMatchObject([{ type: 'friend_accepted', actor_id: bob.user.id }]);
    // Answering the request reads its notification.
    expect((await notificationsOf(bob.user.id))[0]!.read_at).not.toBeNull();
    // Accepting twice is harmless.
    expect((await accept(bob, request.id)).statusCode).toBe(200);
    expect(await pairRows(ann.user.id, bob.user.id)).toHaveLength(1);
  });

  it('if the other side already asked, a request accepts theirs: 200 accepted, one row', async () => {
    const cat = await api.register('fr_cat');
    const dan = await api.register('fr_dan');
    expect((await ask(cat, 'fr_dan')).statusCode).toBe(201);
    const res = await ask(dan, 'fr_cat');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'accepted', direction: 'incoming', user: { username: 'fr_cat' } });
    const rows = await pairRows(cat.user.id, dan.user.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ user_id: cat.user.id, friend_id: dan.user.id, status: 'accepted' });
  });

  it('clear 4xx for oneself, unknown users, duplicates and existing friends', async () => {
    const eve = await api.register('fr_eve');
    const fay = await api.register('fr_fay');
    const self = await ask(eve, 'fr_eve');
    expect(self.statusCode).toBe(422);
    expect(self.json().error).toMatchObject({ code: 'friend_request_self', fields: { username: ['is yourself'] } });
    for (const name of ['nobody_here', 'x', '', 'bad name!']) {
      const unknown = await ask(eve, name);
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().error.code).toBe('not_found');
    }
    expect((await ask(eve, 'fr_fay')).statusCode).toBe(201);
    const duplicate = await ask(eve, 'fr_fay');
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().error.code).toBe('friend_request_exists');
    expect((await ask(fay, 'fr_eve')).statusCode).toBe(200);
    for (const [from, to] of [[eve, 'fr_fay'], [fay, 'fr_eve']] as const) {
      const again = await ask(from, to);
      expect(again.statusCode).toBe(409);
      expect(again.json().error.code).toBe('already_friends');
    }
    const missing = await api.call({ method: 'POST', url: '/api/v1/friends/requests', token: eve.token, payload: {} });
    expect(missing.statusCode).toBe(422);
    expect(missing.json().error.fields).toEqual({ username: ["can't be blank"] });
    expect((await api.call({ method: 'POST', url: '/api/v1/friends/requests', payload: { username: 'fr_fay' } })).statusCode).toBe(401);
  });

  it('only the addressee accepts: 403 for the requester, 404 for anyone else or an unknown id', async () => {
    const gus = await api.register('fr_gus');
    const hal = await api.register('fr_hal');
    const ivy = await api.register('fr_ivy');
    const { id } = (await ask(gus, 'fr_hal')).json<{ id: string }>();
    const own = await accept(gus, id);
    expect(own.statusCode).toBe(403);
    expect(own.json().error.code).toBe('not_addressee');
    expect((await accept(ivy, id)).statusCode).toBe(404);
    expect((await accept(hal, '01890000-0000-7000-8000-000000000000')).statusCode).toBe(404);
    expect((await accept(hal, 'not-a-uuid')).statusCode).toBe(404);
    expect((await accept(hal, id)).statusCode).toBe(200);
  });

  it('DELETE /friends/:user_id declines, cancels and unfriends; 404 when there is nothing', async () => {
    const jo = await api.register('fr_jo_');
    const kim = await api.register('fr_kim');
    // cancel
    await ask(jo, 'fr_kim');
    expect((await remove(jo, kim.user.id)).statusCode).toBe(204);
    expect(await pairRows(jo.user.id, kim.user.id)).toEqual([]);
    // The cancelled request's notification goes with it.
    expect(await notificationsOf(kim.user.id)).toEqual([]);
    // decline
    await ask(jo, 'fr_kim');
    expect((await remove(kim, jo.user.id)).statusCode).toBe(204);
    expect((await requestsOf(jo)).outgoing).toEqual([]);
    // unfriend
    await ask(jo, 'fr_kim');
    await ask(kim, 'fr_jo_');
    expect(await friendsOf(jo)).toEqual(['fr_kim']);
    expect((await remove(kim, jo.user.id)).statusCode).toBe(204);
    expect(await friendsOf(jo)).toEqual([]);
    const again = await remove(kim, jo.user.id);
    expect(again.statusCode).toBe(404);
    expect((await remove(kim, kim.user.id)).statusCode).toBe(404);
  });

  it('two users asking each other at the same moment end with one accepted friendship', async () => {
    const pairs = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => [await api.register(`race_a${i}`), await api.register(`race_b${i}`)] as const),
    );
    const results = await Promise.all(
      pairs.flatMap(([a, b], i) => [ask(a, `race_b${i}`), ask(b, `race_a${i}`)]),
    );
    for (let i = 0; i < pairs.length; i++) {
      const [a, b] = pairs[i]!;
      const codes = [results[2 * i]!.statusCode, results[2 * i + 1]!.statusCode].sort();
      expect(codes).toEqual([200, 201]);
      const rows = await pairRows(a.user.id, b.user.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.status).toBe('accepted');
    }
  });

  it('lists friends in keyset pages; a bad cursor is 400 invalid_cursor', async () => {
    const hub = await api.register('fr_hub');
    const names = ['fr_p1', 'fr_p2', 'fr_p3', 'fr_p4', 'fr_p5'];
    for (const name of names) {
      const other = await api.register(name);
      await ask(other, 'fr_hub');
      await ask(hub, name);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api.call({ method: 'GET', url: '/api/v1/friends', token: hub.token, query: { limit: '2', ...(cursor ? { cursor } : {}) } });
      expect(res.statusCode).toBe(200);
      const page = res.json<{ data: Array<{ user: { username: string } }>; next_cursor: string | null }>();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((f) => f.user.username));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...names].reverse());
    const bad = await api.call({ method: 'GET', url: '/api/v1/friends', token: hub.token, query: { cursor: 'garbage!' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_cursor');
  });
});

describe('blocks', () => {
  it('blocking ends the friendship and hides requests; the blocked user cannot tell a block from a missing user', async () => {
    const liz = await api.register('bl_liz');
    const max = await api.register('bl_max');
    await ask(liz, 'bl_max');
    await ask(max, 'bl_liz');
    expect(await friendsOf(liz)).toEqual(['bl_max']);

    expect((await block(liz, 'bl_max')).statusCode).toBe(204);
    expect((await block(liz, 'bl_max')).statusCode).toBe(204); // idempotent
    expect(await friendsOf(liz)).toEqual([]);
    expect(await friendsOf(max)).toEqual([]);
    const rows = await pairRows(liz.user.id, max.user.id);
    expect(rows).toMatchObject([{ user_id: liz.user.id, friend_id: max.user.id, status: 'blocked' }]);
    // Nothing the blocked user caused stays in the blocker's notifications.
    expect((await notificationsOf(liz.user.id)).filter((n) => n.actor_id === max.user.id)).toEqual([]);

    const fromBlocked = await ask(max, 'bl_liz');
    const unknown = await ask(max, 'bl_nobody');
    expect(fromBlocked.statusCode).toBe(404);
    expect(fromBlocked.json()).toEqual(unknown.json());
    const fromBlocker = await ask(liz, 'bl_max');
    expect(fromBlocker.statusCode).toBe(409);
    expect(fromBlocker.json().error.code).toBe('user_blocked');

    const list = await api.call({ method: 'GET', url: '/api/v1/blocks', token: liz.token });
    expect(list.json().data).toMatchObject([{ user: { username: 'bl_max' } }]);

    expect((await api.call({ method: 'DELETE', url: `/api/v1/blocks/${max.user.id}`, token: liz.token })).statusCode).toBe(204);
    expect((await api.call({ method: 'DELETE', url: `/api/v1/blocks/${max.user.id}`, token: liz.token })).statusCode).toBe(404);
    expect((await ask(max, 'bl_liz')).statusCode).toBe(201);
  });

  it('a pending request is removed by a block either way; two users may block each other', async () => {
    const ned = await api.register('bl_ned');
    const oli = await api.register('bl_oli');
    await ask(ned, 'bl_oli');
    expect((await block(oli, 'bl_ned')).statusCode).toBe(204);
    expect((await requestsOf(ned)).outgoing).toEqual([]);
    expect((await requestsOf(oli)).incoming).toEqual([]);
    expect(await notificationsOf(oli.user.id)).toEqual([]);
    expect((await block(ned, 'bl_oli')).statusCode).toBe(204);
    expect(await pairRows(ned.user.id, oli.user.id)).toHaveLength(2);
  });

  it('422 block_self, 404 for unknown users', async () => {
    const pat = await api.register('bl_pat');
    const self = await block(pat, 'bl_pat');
    expect(self.statusCode).toBe(422);
    expect(self.json().error.code).toBe('block_self');
    expect((await block(pat, 'bl_nobody')).statusCode).toBe(404);
    expect((await api.call({ method: 'DELETE', url: '/api/v1/blocks/not-a-uuid', token: pat.token })).statusCode).toBe(404);
  });
});
