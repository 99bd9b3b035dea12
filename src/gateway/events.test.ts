// Room events end to end: REST calls on a listening server, `ws` clients receiving. Covers
// every conversation event type, typing, user-room events, the rights that stop events at
// once (removal, block, logout, session revocation, password change) and resume.
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../test/app-harness.ts';
import { sweepResumeBuffer } from './resume.ts';
import { listen, settle, TestClient } from './testing.ts';

const api = useTestApp({ GATEWAY_FANOUT: 'in-process', GATEWAY_TYPING_INTERVAL: '0s' });

let url = '';
const connect = async (token: string) => {
  url ||= await listen(api.app);
  const client = await TestClient.open(url);
  await client.identify(token);
  return client;
};

async function groupDm(owner: string, userIds: string[]): Promise<string> {
  const res = await api.call({
    method: 'POST',
    url: '/api/v1/conversations',
    token: owner,
    payload: { user_ids: userIds },
  });
  expect(res.statusCode).toBe(201);
  return res.json<{ id: string }>().id;
}

async function send(token: string, conversationId: string, content: string): Promise<string> {
  const res = await api.call({
    method: 'POST',
    url: `/api/v1/conversations/${conversationId}/messages`,
    token,
    payload: { content },
  });
  expect(res.statusCode).toBe(201);
  return res.json<{ id: string }>().id;
}

describe('conversation events', () => {
  it('delivers messages, edits, deletes, reactions and typing to participants with room and sequences', async () => {
    const a = await api.register('ev_a');
    const b = await api.register('ev_b');
    const c = await api.register('ev_c');
    const conversation = await groupDm(a.token, [b.user.id, c.user.id]);
    const room = `conversation:${conversation}`;
    const [ca, cb] = [await connect(a.token), await connect(b.token)];

    const id = await send(a.token, conversation, 'hello over the wire');
    const created = await cb.event('message.created', (f) => f.data?.id === id);
    expect(created).toMatchObject({
      room,
      data: { content: 'hello over the wire', conversation_id: conversation, sender: { id: a.user.id } },
    });
    expect(typeof created.seq).toBe('number');
    expect(typeof created.room_seq).toBe('number');
    await ca.event('message.created', (f) => f.data?.id === id); // the sender's other tabs see it too

    await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${conversation}/messages/${id}`,
      token: a.token,
      payload: { content: 'edited' },
    });
    const updated = await cb.event('message.updated', (f) => f.data?.id === id);
    expect(updated.data).toMatchObject({ content: 'edited' });
    await api.call({
      method: 'PUT',
      url: `/api/v1/conversations/${conversation}/messages/${id}/reactions/${encodeURIComponent('👍')}`,
      token: b.token,
    });
    expect((await ca.event('reaction.added')).data).toMatchObject({
      message_id: id,
      user_id: b.user.id,
      emoji: '👍',
    });
    await api.call({
      method: 'DELETE',
      url: `/api/v1/conversations/${conversation}/messages/${id}/reactions/${encodeURIComponent('👍')}`,
      token: b.token,
    });
    await ca.event('reaction.removed');
    await api.call({
      method: 'DELETE',
      url: `/api/v1/conversations/${conversation}/messages/${id}`,
      token: a.token,
    });
    expect((await cb.event('message.deleted')).data).toEqual({ id, conversation_id: conversation });
    await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${conversation}`,
      token: a.token,
      payload: { name: 'Renamed' },
    });
    expect((await cb.event('conversation.updated')).data).toMatchObject({
      id: conversation,
      name: 'Renamed',
    });

    // One room, gap-free: room_seq rises by one per event, seq (the resume cursor) grows.
    const inRoom = cb.frames.filter((f) => f.op === 'event' && f.room === room);
    for (let i = 1; i < inRoom.length; i++) {
      expect(inRoom[i]!.room_seq).toBe(inRoom[i - 1]!.room_seq! + 1);
      expect(inRoom[i]!.seq!).toBeGreaterThan(inRoom[i - 1]!.seq!);
    }

    cb.send({ op: 'typing', room });
    expect((await ca.event('typing')).data).toMatchObject({
      user_id: b.user.id,
      conversation_id: conversation,
    });
    cb.send({ op: 'typing', room: conversation }); // a bare id works too
    await expect.poll(() => ca.events('typing').length).toBe(2);
    expect(cb.events('typing')).toEqual([]);
    cb.send({ op: 'typing', room: 'conversation:00000000-0000-0000-0000-000000000000' });
    await cb.next((f) => f.op === 'error' && f.code === 'not_found');
  });

  it('adds a participant’s socket to the room at once and removes a removed one at once', async () => {
    const a = await api.register('rm_a');
    const b = await api.register('rm_b');
    const c = await api.register('rm_c');
    const d = await api.register('rm_d');
    const conversation = await groupDm(a.token, [b.user.id, c.user.id]);
    const [cb, cc, cd] = [await connect(b.token), await connect(c.token), await connect(d.token)];

    await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${conversation}/participants`,
      token: a.token,
      payload: { user_id: d.user.id },
    });
    expect((await cd.event('member.joined')).data).toEqual({
      conversation_id: conversation,
      user_id: d.user.id,
    });
    await cb.event('member.joined');

    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${conversation}/participants/${c.user.id}`,
          token: a.token,
        })
      ).statusCode,
    ).toBe(204);
    expect((await cc.event('member.left')).room).toBe(`user:${c.user.id}`);
    await cb.event('member.left', (f) => f.data?.user_id === c.user.id);

    const id = await send(a.token, conversation, 'after the removal');
    await cd.event('message.created', (f) => f.data?.id === id);
    await cb.event('message.created', (f) => f.data?.id === id);
    await settle();
    expect(cc.events('message.created').filter((f) => f.data?.id === id)).toEqual([]);
  });

  it('stops delivering a blocked user’s messages and typing to the blocker', async () => {
    const a = await api.register('bl_a');
    const b = await api.register('bl_b');
    const c = await api.register('bl_c');
    const conversation = await groupDm(c.token, [a.user.id, b.user.id]);
    const [ca, cb] = [await connect(a.token), await connect(b.token)];
    const before = await send(a.token, conversation, 'before the block');
    await cb.event('message.created', (f) => f.data?.id === before);

    expect(
      (
        await api.call({
          method: 'POST',
          url: '/api/v1/blocks',
          token: b.token,
          payload: { username: 'bl_a' },
        })
      ).statusCode,
    ).toBe(204);
    const after = await send(a.token, conversation, 'after the block');
    const fromC = await send(c.token, conversation, 'from someone else');
    await cb.event('message.created', (f) => f.data?.id === fromC);
    ca.send({ op: 'typing', room: `conversation:${conversation}` });
    await settle();
    expect(cb.events('message.created').map((f) => f.data?.id)).not.toContain(after);
    expect(cb.events('typing')).toEqual([]);
  });
});

describe('sessions', () => {
  it('closes the socket on logout, on revoking the session, and on a password change', async () => {
    const u = await api.register('ses_a');
    const logoutSocket = await connect(u.token);
    await api.call({ method: 'POST', url: '/api/v1/auth/logout', token: u.token });
    expect((await logoutSocket.waitClosed()).code).toBe(4001);

    const login = async () =>
      (
        await api.call({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { login: 'ses_a', password: 'correct horse battery' },
        })
      ).json<{ token: string }>().token;
    const [main, other] = [await login(), await login()];
    const otherSocket = await connect(other);
    const sessions = (await api.call({ method: 'GET', url: '/api/v1/auth/sessions', token: main })).json<
      { data?: Array<{ id: string; current: boolean }> } | Array<{ id: string; current: boolean }>
    >();
    const list = Array.isArray(sessions) ? sessions : sessions.data!;
    const target = list.find((s) => !s.current)!;
    expect(
      (await api.call({ method: 'DELETE', url: `/api/v1/auth/sessions/${target.id}`, token: main }))
        .statusCode,
    ).toBe(204);
    expect((await otherSocket.waitClosed()).code).toBe(4001);

    const third = await login();
    const mainSocket = await connect(main);
    const thirdSocket = await connect(third);
    const res = await api.call({
      method: 'POST',
      url: '/api/v1/me/password',
      token: main,
      payload: { current_password: 'correct horse battery', new_password: 'another long password' },
    });
    expect(res.statusCode).toBe(204);
    expect((await thirdSocket.waitClosed()).code).toBe(4001);
    await settle(100);
    expect(mainSocket.closed).toBeUndefined();
  });
});

describe('session expiry', () => {
  it('closes sockets whose session ran out, keeps the others', async () => {
    const u = await api.register('exp_a');
    const v = await api.register('exp_b');
    const [expiring, staying] = [await connect(u.token), await connect(v.token)];
    await api.t.db.updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000) }).where('user_id', '=', u.user.id).execute();
    await api.app.gateway.checkSessions();
    expect((await expiring.waitClosed()).code).toBe(4001);
    await settle(100);
    expect(staying.closed).toBeUndefined();
  });
});

describe('user events', () => {
  it('delivers friend requests and notifications to the user’s own room only', async () => {
    const a = await api.register('ue_a');
    const b = await api.register('ue_b');
    const cb = await connect(b.token);
    const ca = await connect(a.token);
    await api.call({
      method: 'POST',
      url: '/api/v1/friends/requests',
      token: a.token,
      payload: { username: 'ue_b' },
    });
    expect((await cb.event('friend_request.created')).data).toMatchObject({ from_user_id: a.user.id });
    const notification = await cb.event('notification.created');
    expect(notification).toMatchObject({ room: `user:${b.user.id}`, data: { type: 'friend_request' } });
    await settle(100);
    expect(ca.events('notification.created')).toEqual([]);
  });
});

describe('resume', () => {
  it('replays what a client missed, then says resumed; resync once the buffer is gone', async () => {
    const a = await api.register('rs_a');
    const b = await api.register('rs_b');
    const conversation = await groupDm(a.token, [b.user.id]);
    const first = await connect(b.token);
    const seen = await send(a.token, conversation, 'seen live');
    const live = await first.event('message.created', (f) => f.data?.id === seen);
    first.close();
    await first.waitClosed();

    const missed = [
      await send(a.token, conversation, 'missed one'),
      await send(a.token, conversation, 'missed two'),
    ];
    await api.app.gateway.drain();
    url ||= await listen(api.app);
    const second = await TestClient.open(url);
    second.send({ op: 'resume', token: b.token, last_seq: live.seq });
    const resumed = await second.next((f) => f.op === 'resumed');
    const replayed = second.events('message.created').map((f) => f.data?.id);
    expect(replayed).toEqual(missed);
    // (Their message notifications, in B's user room, come back too.)
    const events = second.frames.filter((f) => f.op === 'event');
    expect(events.map((f) => f.type)).toContain('notification.created');
    expect(resumed.replayed).toBe(events.length);
    expect(resumed.seq).toBe(events.at(-1)!.seq);
    // Live again after the resume.
    const later = await send(a.token, conversation, 'live again');
    await second.event('message.created', (f) => f.data?.id === later);

    await api.app.gateway.drain();
    await sweepResumeBuffer(api.t.db, 0);
    const third = await TestClient.open(url);
    third.send({ op: 'resume', token: b.token, last_seq: live.seq });
    const resync = await third.next((f) => f.op === 'resync');
    expect(typeof resync.seq).toBe('number');
    expect(third.events('message.created')).toEqual([]);

    const bad = await TestClient.open(url);
    bad.send({ op: 'resume', token: 'nope', last_seq: 1 });
    expect((await bad.waitClosed()).code).toBe(4001);
  });
});
