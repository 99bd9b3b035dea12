import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';

const api = useTestApp();

type User = { token: string; user: { id: string; username: string } };
let ann: User, bob: User, cat: User, dan: User, eve: User;

beforeAll(async () => {
  [ann, bob, cat, dan, eve] = (await Promise.all(
    ['conv_ann', 'conv_bob', 'conv_cat', 'conv_dan', 'conv_eve'].map((name) => api.register(name)),
  )) as [User, User, User, User, User];
});

const create = (who: User, payload: Record<string, unknown>) =>
  api.call({ method: 'POST', url: '/api/v1/conversations', token: who.token, payload });
const send = (who: User, id: string, payload: Record<string, unknown>) =>
  api.call({ method: 'POST', url: `/api/v1/conversations/${id}/messages`, token: who.token, payload });

describe('1:1 DMs', () => {
  it('is the same conversation every time, from either side', async () => {
    const first = await create(ann, { user_ids: [bob.user.id] });
    expect(first.statusCode).toBe(201);
    const dm = first.json();
    expect(dm).toMatchObject({ is_group: false, name: null, unread_count: 0, muted: false });
    expect(dm.participants.map((p: { username: string }) => p.username).sort()).toEqual([
      'conv_ann',
      'conv_bob',
    ]);
    const again = await create(ann, { user_ids: [bob.user.id, ann.user.id] });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(dm.id);
    const reverse = await create(bob, { user_ids: [ann.user.id] });
    expect(reverse.json().id).toBe(dm.id);
  });

  it('is one conversation when both users create it at the same moment', async () => {
    const a = await api.register('conv_race_a');
    const b = await api.register('conv_race_b');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 ? create(a, { user_ids: [b.user.id] }) : create(b, { user_ids: [a.user.id] }),
      ),
    );
    expect(results.map((r) => r.statusCode).every((s) => s === 200 || s === 201)).toBe(true);
    expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    const { count } = await api.t.db
      .selectFrom('conversation_participants')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('conversation_id', '=', results[0]!.json().id)
      .executeTakeFirstOrThrow();
    expect(Number(count)).toBe(2);
  });

  it('refuses bad user lists with 422', async () => {
    expect((await create(ann, { user_ids: [ann.user.id] })).statusCode).toBe(422);
    expect(
      (await create(ann, { user_ids: ['00000000-0000-7000-8000-000000000000'] })).json().error.fields,
    ).toHaveProperty('user_ids');
    expect(
      (await create(ann, { user_ids: [bob.user.id], name: 'named' })).json().error.fields,
    ).toHaveProperty('name');
    expect((await create(ann, { user_ids: 'nope' })).statusCode).toBe(422);
  });

  it('cannot be started or written in across a block (403 conversation_blocked)', async () => {
    const x = await api.register('conv_block_x');
    const y = await api.register('conv_block_y');
    const dm = (await create(x, { user_ids: [y.user.id] })).json();
    const blocked = await api.call({
      method: 'POST',
      url: '/api/v1/blocks',
      token: y.token,
      payload: { username: x.user.username },
    });
    expect(blocked.statusCode).toBe(204);
    for (const who of [x, y]) {
      const again = await create(who, { user_ids: [(who === x ? y : x).user.id] });
      expect(again.statusCode).toBe(403);
      expect(again.json().error.code).toBe('conversation_blocked');
      expect((await send(who, dm.id, { content: 'hi' })).statusCode).toBe(403);
    }
    // Reading stays possible.
    expect(
      (await api.call({ method: 'GET', url: `/api/v1/conversations/${dm.id}/messages`, token: x.token }))
        .statusCode,
    ).toBe(200);
  });
});

describe('group DMs', () => {
  it('creates a named group owned by the creator; rename, add, leave and remove leave system messages', async () => {
    const res = await create(ann, { user_ids: [bob.user.id, cat.user.id], name: ' Plans ' });
    expect(res.statusCode).toBe(201);
    const group = res.json();
    expect(group).toMatchObject({ is_group: true, name: 'Plans', owner_id: ann.user.id });
    expect(group.participants).toHaveLength(3);

    const renamed = await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${group.id}`,
      token: bob.token,
      payload: { name: 'Trip' },
    });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'Trip', unread_count: 0 });

    const added = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${group.id}/participants`,
      token: cat.token,
      payload: { user_id: dan.user.id },
    });
    expect(added.statusCode).toBe(200);
    expect(added.json().participants).toHaveLength(4);
    // Idempotent.
    expect(
      (
        await api.call({
          method: 'POST',
          url: `/api/v1/conversations/${group.id}/participants`,
          token: cat.token,
          payload: { user_id: dan.user.id },
        })
      ).json().participants,
    ).toHaveLength(4);

    // Only the owner removes others.
    const notOwner = await api.call({
      method: 'DELETE',
      url: `/api/v1/conversations/${group.id}/participants/${dan.user.id}`,
      token: bob.token,
    });
    expect(notOwner.statusCode).toBe(403);
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${group.id}/participants/${dan.user.id}`,
          token: ann.token,
        })
      ).statusCode,
    ).toBe(204);
    expect(
      (await api.call({ method: 'GET', url: `/api/v1/conversations/${group.id}`, token: dan.token }))
        .statusCode,
    ).toBe(404);
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${group.id}/participants/${cat.user.id}`,
          token: cat.token,
        })
      ).statusCode,
    ).toBe(204);

    const history = await api.call({
      method: 'GET',
      url: `/api/v1/conversations/${group.id}/messages`,
      token: ann.token,
    });
    const events = history.json().data.map((m: { type: string; sender: unknown; content: string }) => {
      expect(m.type).toBe('system');
      expect(m.sender).toBeNull();
      return JSON.parse(m.content).event;
    });
    expect(events).toEqual(['participant_left', 'participant_removed', 'participant_added', 'renamed']);
    // Bob did none of the last three: they are unread for him; ann removed dan, so only cat's leave is new to her.
    const list = (await api.call({ method: 'GET', url: '/api/v1/conversations', token: bob.token })).json();
    expect(list.data.find((c: { id: string }) => c.id === group.id).unread_count).toBe(3);
  });

  it('hands ownership on when the owner leaves, and the last one out deletes it', async () => {
    const group = (await create(ann, { user_ids: [bob.user.id, cat.user.id] })).json();
    await api.call({
      method: 'DELETE',
      url: `/api/v1/conversations/${group.id}/participants/${ann.user.id}`,
      token: ann.token,
    });
    expect(
      (await api.call({ method: 'GET', url: `/api/v1/conversations/${group.id}`, token: bob.token })).json()
        .owner_id,
    ).toBe(bob.user.id);
    await api.call({
      method: 'DELETE',
      url: `/api/v1/conversations/${group.id}/participants/${bob.user.id}`,
      token: bob.token,
    });
    await api.call({
      method: 'DELETE',
      url: `/api/v1/conversations/${group.id}/participants/${cat.user.id}`,
      token: cat.token,
    });
    const gone = await api.t.db
      .selectFrom('conversations')
      .select('id')
      .where('id', '=', group.id)
      .executeTakeFirst();
    expect(gone).toBeUndefined();
  });

  it('names, participants and leaving are group-only (422); names are bounded', async () => {
    const dm = (await create(ann, { user_ids: [bob.user.id] })).json();
    const rename = await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${dm.id}`,
      token: ann.token,
      payload: { name: 'x' },
    });
    expect(rename.statusCode).toBe(422);
    expect(rename.json().error.code).toBe('not_group_conversation');
    expect(
      (
        await api.call({
          method: 'POST',
          url: `/api/v1/conversations/${dm.id}/participants`,
          token: ann.token,
          payload: { user_id: cat.user.id },
        })
      ).statusCode,
    ).toBe(422);
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${dm.id}/participants/${ann.user.id}`,
          token: ann.token,
        })
      ).statusCode,
    ).toBe(422);
    expect(
      (await create(ann, { user_ids: [bob.user.id, cat.user.id], name: 'n'.repeat(101) })).statusCode,
    ).toBe(422);
  });

  it(`caps participants at 25, also under concurrent adds`, async () => {
    const users = await Promise.all(Array.from({ length: 26 }, (_, i) => api.register(`conv_cap_${i}`)));
    const tooMany = await create(users[0]!, { user_ids: users.slice(1).map((u) => u.user.id) });
    expect(tooMany.statusCode).toBe(422);
    const group = (await create(users[0]!, { user_ids: users.slice(1, 22).map((u) => u.user.id) })).json();
    expect(group.participants).toHaveLength(22);
    const adds = await Promise.all(
      users
        .slice(22)
        .concat([ann, bob])
        .map((u) =>
          api.call({
            method: 'POST',
            url: `/api/v1/conversations/${group.id}/participants`,
            token: users[0]!.token,
            payload: { user_id: u.user.id },
          }),
        ),
    );
    expect(adds.filter((r) => r.statusCode === 200)).toHaveLength(3);
    expect(
      adds.filter((r) => r.statusCode === 409).every((r) => r.json().error.code === 'conversation_full'),
    ).toBe(true);
    expect(
      (
        await api.call({ method: 'GET', url: `/api/v1/conversations/${group.id}`, token: users[0]!.token })
      ).json().participants,
    ).toHaveLength(25);
  });

  it('refuses to add a user across a block', async () => {
    const group = (await create(ann, { user_ids: [bob.user.id, cat.user.id] })).json();
    await api.call({
      method: 'POST',
      url: '/api/v1/blocks',
      token: eve.token,
      payload: { username: bob.user.username },
    });
    const res = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${group.id}/participants`,
      token: bob.token,
      payload: { user_id: eve.user.id },
    });
    expect(res.statusCode).toBe(403);
  });
});

describe('visibility, mute and the list', () => {
  it('404s everything under a conversation for non-participants', async () => {
    const dm = (await create(ann, { user_ids: [bob.user.id] })).json();
    const msg = (await send(ann, dm.id, { content: 'secret' })).json();
    const urls: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/conversations/${dm.id}`],
      ['PATCH', `/api/v1/conversations/${dm.id}`, { muted: true }],
      ['GET', `/api/v1/conversations/${dm.id}/messages`],
      ['POST', `/api/v1/conversations/${dm.id}/messages`, { content: 'x' }],
      ['PATCH', `/api/v1/conversations/${dm.id}/messages/${msg.id}`, { content: 'x' }],
      ['DELETE', `/api/v1/conversations/${dm.id}/messages/${msg.id}`],
      ['PUT', `/api/v1/conversations/${dm.id}/messages/${msg.id}/reactions/${encodeURIComponent('👍')}`],
      ['POST', `/api/v1/conversations/${dm.id}/read`, {}],
      ['POST', `/api/v1/conversations/${dm.id}/participants`, { user_id: cat.user.id }],
      ['DELETE', `/api/v1/conversations/${dm.id}/participants/${ann.user.id}`],
    ];
    for (const [method, url, payload] of urls) {
      const res = await api.call({
        method: method,
        url,
        token: cat.token,
        ...(payload ? { payload: payload } : {}),
      });
      expect([method, url, res.statusCode]).toEqual([method, url, 404]);
    }
  });

  it('lists newest activity first with unread counts, mute flags and keyset pages', async () => {
    const me = await api.register('conv_lister');
    const peers = await Promise.all([0, 1, 2, 3, 4].map((i) => api.register(`conv_peer_${i}`)));
    const ids: string[] = [];
    for (const peer of peers) ids.push((await create(me, { user_ids: [peer.user.id] })).json().id);
    // Activity order: peer 2 writes last, peer 0 before it.
    await send(peers[0]!, ids[0]!, { content: 'one' });
    await send(peers[0]!, ids[0]!, { content: 'two' });
    await send(peers[2]!, ids[2]!, { content: 'three' });
    await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${ids[2]}`,
      token: me.token,
      payload: { muted: true },
    });

    const first = await api.call({ method: 'GET', url: '/api/v1/conversations?limit=2', token: me.token });
    expect(first.statusCode).toBe(200);
    const page1 = first.json();
    expect(page1.data.map((c: { id: string }) => c.id)).toEqual([ids[2], ids[0]]);
    expect(page1.data[0]).toMatchObject({ unread_count: 1, muted: true });
    expect(page1.data[1]).toMatchObject({ unread_count: 2, muted: false });
    expect(page1.data[1].last_message_at).not.toBeNull();
    const rest = [];
    let cursor: string | null = page1.next_cursor;
    while (cursor) {
      const page = (
        await api.call({
          method: 'GET',
          url: `/api/v1/conversations?limit=2&cursor=${cursor}`,
          token: me.token,
        })
      ).json();
      rest.push(...page.data.map((c: { id: string }) => c.id));
      cursor = page.next_cursor;
    }
    expect(rest.sort()).toEqual([ids[1], ids[3], ids[4]].sort());
    for (const bad of ['garbage', Buffer.from('["not a time","01a216a7-d233-71c8-8dcb-060379ac976c"]').toString('base64url')]) {
      const res = await api.call({ method: 'GET', url: `/api/v1/conversations?cursor=${bad}`, token: me.token });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_cursor');
    }
    // The list (rendered by PostgreSQL) holds exactly what GET /conversations/:id returns,
    // for a named group with several participants too.
    const group = (await create(me, { user_ids: [peers[3]!.user.id, peers[4]!.user.id], name: 'Ré "quoted" ✓' })).json();
    const all = (await api.call({ method: 'GET', url: '/api/v1/conversations?limit=100', token: me.token })).json();
    expect(all.data.map((c: { id: string }) => c.id)).toContain(group.id);
    for (const listed of all.data) {
      const one = await api.call({ method: 'GET', url: `/api/v1/conversations/${listed.id}`, token: me.token });
      expect(listed).toEqual(one.json());
    }
  });
});
