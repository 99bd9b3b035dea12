import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { notify } from './service.ts';

const api = useTestApp();

describe('notifications API', () => {
  it('lists unread first, counts, marks one and all read; others’ notifications are 404', async () => {
    const amy = await api.register('nf_amy');
    const ben = await api.register('nf_ben');
    const cy = await api.register('nf_cy_');
    // A friend request from ben, one from cy, then amy accepts ben's by asking back.
    await api.call({ method: 'POST', url: '/api/v1/friends/requests', token: ben.token, payload: { username: 'nf_amy' } });
    await api.call({ method: 'POST', url: '/api/v1/friends/requests', token: cy.token, payload: { username: 'nf_amy' } });
    await notify(api.t.db, { userId: amy.user.id, type: 'mention', actorId: cy.user.id, data: { post_id: 'p1' } });
    await api.call({ method: 'POST', url: '/api/v1/friends/requests', token: amy.token, payload: { username: 'nf_ben' } });

    const count = await api.call({ method: 'GET', url: '/api/v1/notifications/unread_count', token: amy.token });
    expect(count.statusCode).toBe(200);
    expect(count.json()).toEqual({ count: 2 }); // ben's request was answered, so read

    const list = await api.call({ method: 'GET', url: '/api/v1/notifications', token: amy.token });
    expect(list.statusCode).toBe(200);
    const page = list.json<{ data: Array<{ id: string; type: string; read: boolean; actor: { username: string } | null; data: Record<string, unknown> }>; next_cursor: string | null }>();
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((n) => [n.type, n.actor?.username, n.read])).toEqual([
      ['mention', 'nf_cy_', false],
      ['friend_request', 'nf_cy_', false],
      ['friend_request', 'nf_ben', true],
    ]);
    expect(page.data[0]!.data).toEqual({ post_id: 'p1' });
    expect(page.data[1]!.data).toMatchObject({ user_id: cy.user.id, friendship_id: expect.any(String) });

    const benSees = await api.call({ method: 'GET', url: '/api/v1/notifications', token: ben.token });
    expect(benSees.json().data).toMatchObject([{ type: 'friend_accepted', actor: { username: 'nf_amy' } }]);

    const unreadOnly = await api.call({ method: 'GET', url: '/api/v1/notifications?unread=true&limit=1', token: amy.token });
    expect(unreadOnly.json().data).toHaveLength(1);
    expect(unreadOnly.json().next_cursor).toEqual(expect.any(String));

    const mention = page.data[0]!;
    expect((await api.call({ method: 'POST', url: `/api/v1/notifications/${mention.id}/read`, token: ben.token })).statusCode).toBe(404);
    const read = await api.call({ method: 'POST', url: `/api/v1/notifications/${mention.id}/read`, token: amy.token });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ id: mention.id, read: true, read_at: expect.any(String) });
    expect((await api.call({ method: 'POST', url: `/api/v1/notifications/${mention.id}/read`, token: amy.token })).statusCode).toBe(200);
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications/unread_count', token: amy.token })).json()).toEqual({ count: 1 });

    const all = await api.call({ method: 'POST', url: '/api/v1/notifications/read_all', token: amy.token });
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual({ marked: 1 });
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications/unread_count', token: amy.token })).json()).toEqual({ count: 0 });
    // The unread phase is empty now, so the list starts with the read ones.
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications', token: amy.token })).json().data).toHaveLength(3);
  });

  it('400 for a bad cursor or limit, 401 without a token', async () => {
    const dee = await api.register('nf_dee');
    const bad = await api.call({ method: 'GET', url: '/api/v1/notifications?cursor=%%%', token: dee.token });
    expect(bad.statusCode).toBe(400);
    const badCursor = await api.call({ method: 'GET', url: '/api/v1/notifications?cursor=abc', token: dee.token });
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json().error.code).toBe('invalid_cursor');
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications?limit=101', token: dee.token })).statusCode).toBe(400);
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications?unread=maybe', token: dee.token })).statusCode).toBe(400);
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications' })).statusCode).toBe(401);
    expect((await api.call({ method: 'POST', url: '/api/v1/notifications/read_all' })).statusCode).toBe(401);
  });

  it('a block removes what the blocked user caused and stops new notifications from them', async () => {
    const eli = await api.register('nf_eli');
    const fox = await api.register('nf_fox');
    await notify(api.t.db, { userId: eli.user.id, type: 'mention', actorId: fox.user.id });
    await notify(api.t.db, { userId: fox.user.id, type: 'reply', actorId: eli.user.id });
    expect((await api.call({ method: 'POST', url: '/api/v1/blocks', token: eli.token, payload: { username: 'nf_fox' } })).statusCode).toBe(204);
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications', token: eli.token })).json().data).toEqual([]);
    expect(await notify(api.t.db, { userId: eli.user.id, type: 'mention', actorId: fox.user.id })).toBeUndefined();
    // The blocked user keeps what the blocker caused them (only friend requests go).
    expect((await api.call({ method: 'GET', url: '/api/v1/notifications', token: fox.token })).json().data).toHaveLength(1);
  });
});
