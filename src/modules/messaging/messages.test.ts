import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { countQueries } from '../../../test/db.ts';
import type { DomainEvent, EventBus } from '../../events/bus.ts';
import { mentionedUsernames, sendMessage } from './conversation-messages.ts';
import { checkEmoji, MESSAGE_MAX_LENGTH } from './messages.ts';

const api = useTestApp();

type User = { token: string; user: { id: string; username: string } };
let ann: User, bob: User, cat: User;
let dm: string;

beforeAll(async () => {
  [ann, bob, cat] = (await Promise.all(
    ['msg_ann', 'msg_bob', 'msg_cat'].map((name) => api.register(name)),
  )) as [User, User, User];
  dm = (
    await api.call({
      method: 'POST',
      url: '/api/v1/conversations',
      token: ann.token,
      payload: { user_ids: [bob.user.id] },
    })
  ).json().id;
});

const send = (who: User, id: string, payload: Record<string, unknown>) =>
  api.call({ method: 'POST', url: `/api/v1/conversations/${id}/messages`, token: who.token, payload });
const history = (who: User, id: string, query = '') =>
  api.call({ method: 'GET', url: `/api/v1/conversations/${id}/messages${query}`, token: who.token });
const conversation = async (who: User, id: string) =>
  (await api.call({ method: 'GET', url: `/api/v1/conversations/${id}`, token: who.token })).json();
const newGroup = async () =>
  (
    await api.call({
      method: 'POST',
      url: '/api/v1/conversations',
      token: ann.token,
      payload: { user_ids: [bob.user.id, cat.user.id] },
    })
  ).json().id as string;

describe('send', () => {
  it('201 with the message, trimmed, seq numbered, sender attached; last_message_at follows', async () => {
    const res = await send(ann, dm, { content: '  hello bob  ' });
    expect(res.statusCode).toBe(201);
    const message = res.json();
    expect(message).toMatchObject({
      content: 'hello bob',
      type: 'text',
      deleted: false,
      edited_at: null,
      reactions: [],
    });
    expect(message.sender).toMatchObject({ id: ann.user.id, username: 'msg_ann' });
    const conv = await conversation(ann, dm);
    expect(conv.last_message_seq).toBe(message.seq);
    expect(conv.last_message_at).toBe(message.inserted_at);
  });

  it('validates content, type, nonce and reply_to_id', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ content: '   ' }, 'content'],
      [{ content: 'x'.repeat(MESSAGE_MAX_LENGTH + 1) }, 'content'],
      [{ content: 'hi', type: 'system' }, 'type'],
      [{ content: 'hi', type: 'video' }, 'type'],
      [{ content: 'hi', nonce: '' }, 'nonce'],
      [{ content: 'hi', nonce: 'n'.repeat(65) }, 'nonce'],
      [{}, 'content'],
      // Attachments make an image or file message; those need at least one, of known uploads.
      [{ content: 'hi', attachment_ids: ['00000000-0000-7000-8000-000000000000'] }, 'type'],
      [{ content: '', type: 'image' }, 'attachment_ids'],
      [{ content: '', type: 'file', attachment_ids: ['00000000-0000-7000-8000-000000000000'] }, 'attachment_ids'],
    ];
    for (const [payload, field] of cases) {
      const res = await send(ann, dm, payload);
      expect([payload, res.statusCode]).toEqual([payload, 422]);
      expect(res.json().error.fields).toHaveProperty(field);
    }
    expect((await send(ann, dm, { content: 'x'.repeat(MESSAGE_MAX_LENGTH) })).statusCode).toBe(201);
    // A reply must point into the same conversation.
    const elsewhere = (await send(ann, await newGroup(), { content: 'other room' })).json();
    const bad = await send(ann, dm, { content: 'reply', reply_to_id: elsewhere.id });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.fields).toHaveProperty('reply_to_id');
  });

  it('the same nonce from the same sender returns the first message, also under concurrent retries', async () => {
    const before = (await conversation(ann, dm)).last_message_seq;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => send(ann, dm, { content: 'once', nonce: 'retry-1' })),
    );
    expect(results.every((r) => r.statusCode === 201)).toBe(true);
    expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    // The rolled-back attempts left no gap in seq.
    expect((await conversation(ann, dm)).last_message_seq).toBe(before + 1);
    // Another sender may use the same nonce.
    const other = await send(bob, dm, { content: 'once', nonce: 'retry-1' });
    expect(other.json().id).not.toBe(results[0]!.json().id);
  });

  it('seq is gap-free and unique under concurrent senders', async () => {
    const group = await newGroup();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => send([ann, bob, cat][i % 3]!, group, { content: `m${i}` })),
    );
    const rows = await api.t.db
      .selectFrom('messages')
      .select(['seq', 'id'])
      .where('conversation_id', '=', group)
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // ids are generated after the seq is taken, so both orders agree.
    expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort());
  });
});

describe('unread counts and read', () => {
  it('counts others’ messages only, O(1) from the counters, and read never moves backwards', async () => {
    const group = await newGroup();
    const m1 = (await send(bob, group, { content: 'one' })).json();
    await send(bob, group, { content: 'two' });
    await send(ann, group, { content: 'mine' });
    const m4 = (await send(cat, group, { content: 'four' })).json();
    // Ann's own message moved her read position to it: only cat's later one is unread.
    expect((await conversation(ann, group)).unread_count).toBe(1);
    expect((await conversation(cat, group)).unread_count).toBe(0);
    expect((await conversation(bob, group)).unread_count).toBe(2);
    const read = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${group}/read`,
      token: bob.token,
      payload: { message_id: m4.id },
    });
    expect(read.json()).toEqual({ last_read_seq: m4.seq, unread_count: 0 });
    const back = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${group}/read`,
      token: bob.token,
      payload: { message_id: m1.id },
    });
    expect(back.json()).toEqual({ last_read_seq: m4.seq, unread_count: 0 });
    // Default: the latest; works without a body.
    await send(ann, group, { content: 'five' });
    const all = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${group}/read`,
      token: cat.token,
    });
    expect(all.statusCode).toBe(200);
    expect(all.json().unread_count).toBe(0);
    const unknown = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${group}/read`,
      token: cat.token,
      payload: { message_id: dm },
    });
    expect(unknown.statusCode).toBe(422);
  });

  it('a deleted message still counts as unread (documented)', async () => {
    const group = await newGroup();
    const m = (await send(bob, group, { content: 'oops' })).json();
    await api.call({
      method: 'DELETE',
      url: `/api/v1/conversations/${group}/messages/${m.id}`,
      token: bob.token,
    });
    expect((await conversation(ann, group)).unread_count).toBe(1);
  });
});

describe('edit and delete', () => {
  it('author edits (edited_at set); others get 403; deleted content is never returned', async () => {
    const m = (await send(ann, dm, { content: 'draft' })).json();
    const edited = await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${dm}/messages/${m.id}`,
      token: ann.token,
      payload: { content: ' final ' },
    });
    expect(edited.statusCode).toBe(200);
    expect(edited.json()).toMatchObject({ content: 'final' });
    expect(edited.json().edited_at).not.toBeNull();
    const notMine = await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${dm}/messages/${m.id}`,
      token: bob.token,
      payload: { content: 'hack' },
    });
    expect(notMine.statusCode).toBe(403);
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${dm}/messages/${m.id}`,
          token: bob.token,
        })
      ).statusCode,
    ).toBe(403);
    await api.call({
      method: 'PUT',
      url: `/api/v1/conversations/${dm}/messages/${m.id}/reactions/${encodeURIComponent('👍')}`,
      token: bob.token,
    });
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${dm}/messages/${m.id}`,
          token: ann.token,
        })
      ).statusCode,
    ).toBe(204);
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${dm}/messages/${m.id}`,
          token: ann.token,
        })
      ).statusCode,
    ).toBe(204);
    const page = (await history(bob, dm)).json();
    const tombstone = page.data.find((x: { id: string }) => x.id === m.id);
    expect(tombstone).toMatchObject({ content: '', deleted: true, reactions: [] });
    expect(JSON.stringify(page)).not.toContain('final');
    const row = await api.t.db
      .selectFrom('messages')
      .select(['content', 'deleted_at'])
      .where('id', '=', m.id)
      .executeTakeFirstOrThrow();
    expect(row.content).toBe('');
    expect(
      (
        await api.call({
          method: 'PATCH',
          url: `/api/v1/conversations/${dm}/messages/${m.id}`,
          token: ann.token,
          payload: { content: 'x' },
        })
      ).statusCode,
    ).toBe(404);
  });

  it('the group-DM owner may delete anyone’s message', async () => {
    const group = await newGroup();
    const m = (await send(cat, group, { content: 'spam' })).json();
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${group}/messages/${m.id}`,
          token: bob.token,
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await api.call({
          method: 'DELETE',
          url: `/api/v1/conversations/${group}/messages/${m.id}`,
          token: ann.token,
        })
      ).statusCode,
    ).toBe(204);
  });
});

describe('history', () => {
  it('pages newest first by before / after / cursor with sender and reactions in ONE query', async () => {
    const group = await newGroup();
    const sent = [];
    for (let i = 0; i < 7; i++)
      sent.push((await send([ann, bob, cat][i % 3]!, group, { content: `h${i}` })).json());
    for (const m of sent.slice(0, 3)) {
      await api.call({
        method: 'PUT',
        url: `/api/v1/conversations/${group}/messages/${m.id}/reactions/${encodeURIComponent('🎉')}`,
        token: bob.token,
      });
      await api.call({
        method: 'PUT',
        url: `/api/v1/conversations/${group}/messages/${m.id}/reactions/:cat:`,
        token: cat.token,
      });
    }
    const { result, queries } = await countQueries(api.t, () => history(ann, group, '?limit=3'));
    const page = result.json();
    expect(page.data.map((m: { content: string }) => m.content)).toEqual(['h6', 'h5', 'h4']);
    // The participant check is part of that statement: one query for the whole page
    // (other queries in the window are the session check and presence bookkeeping).
    expect(queries.filter((q) => /conversation_participants|"messages"|reactions/i.test(q))).toHaveLength(1);
    expect(queries.filter((q) => /from "messages"/i.test(q))).toHaveLength(1);
    expect(
      queries.filter(
        (q) => /reactions|users/i.test(q) && !/from "messages"/i.test(q) && !/sessions/i.test(q),
      ),
    ).toEqual([]);

    const older = (await history(ann, group, `?limit=3&cursor=${page.next_cursor}`)).json();
    expect(older.data.map((m: { content: string }) => m.content)).toEqual(['h3', 'h2', 'h1']);
    const h2 = older.data[1];
    expect(h2.sender).toMatchObject({ username: 'msg_cat' });
    expect(h2.reactions).toEqual([
      { emoji: '🎉', count: 1, me: false },
      { emoji: ':cat:', count: 1, me: false },
    ]);
    const last = (await history(ann, group, `?limit=3&cursor=${older.next_cursor}`)).json();
    expect(last.data.map((m: { content: string }) => m.content)).toEqual(['h0']);
    expect(last.next_cursor).toBeNull();

    const before = (await history(ann, group, `?before=${sent[3].id}&limit=2`)).json();
    expect(before.data.map((m: { content: string }) => m.content)).toEqual(['h2', 'h1']);
    const after = (await history(ann, group, `?after=${sent[1].id}&limit=2`)).json();
    expect(after.data.map((m: { content: string }) => m.content)).toEqual(['h3', 'h2']);
    const newer = (await history(ann, group, `?limit=2&cursor=${after.next_cursor}`)).json();
    expect(newer.data.map((m: { content: string }) => m.content)).toEqual(['h5', 'h4']);

    expect((await history(ann, group, '?cursor=bad!')).statusCode).toBe(400);
    expect((await history(ann, group, '?before=nope')).statusCode).toBe(400);
    expect((await history(ann, group, '?limit=101')).statusCode).toBe(400);
  });
});

describe('reactions', () => {
  it('PUT is idempotent, DELETE removes, counts and "me" come back with the message', async () => {
    const m = (await send(ann, dm, { content: 'react to me' })).json();
    const url = (emoji: string) =>
      `/api/v1/conversations/${dm}/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`;
    for (let i = 0; i < 2; i++)
      expect((await api.call({ method: 'PUT', url: url('👍🏽'), token: bob.token })).statusCode).toBe(204);
    await api.call({ method: 'PUT', url: url('👍🏽'), token: ann.token });
    let mine = (await history(ann, dm, '?limit=1')).json().data[0];
    expect(mine.reactions).toEqual([{ emoji: '👍🏽', count: 2, me: true }]);
    expect((await api.call({ method: 'DELETE', url: url('👍🏽'), token: ann.token })).statusCode).toBe(204);
    mine = (await history(ann, dm, '?limit=1')).json().data[0];
    expect(mine.reactions).toEqual([{ emoji: '👍🏽', count: 1, me: false }]);
    for (const bad of ['a', 'ab👍', '::', ':' + 'x'.repeat(70) + ':', '👍👍']) {
      expect([bad, (await api.call({ method: 'PUT', url: url(bad), token: bob.token })).statusCode]).toEqual([
        bad,
        422,
      ]);
    }
  });

  it('caps distinct emoji per message at 50', async () => {
    const m = (await send(ann, dm, { content: 'many' })).json();
    const names = Array.from({ length: 51 }, (_, i) => `:e${i}:`);
    const results = await Promise.all(
      names.map((n) =>
        api.call({
          method: 'PUT',
          url: `/api/v1/conversations/${dm}/messages/${m.id}/reactions/${n}`,
          token: bob.token,
        }),
      ),
    );
    expect(results.filter((r) => r.statusCode === 204)).toHaveLength(50);
    expect(results.filter((r) => r.statusCode === 409)[0]!.json().error.code).toBe('too_many_reactions');
    // An emoji already there can still be added by someone else.
    const existing = names[results.findIndex((r) => r.statusCode === 204)]!;
    expect(
      (
        await api.call({
          method: 'PUT',
          url: `/api/v1/conversations/${dm}/messages/${m.id}/reactions/${existing}`,
          token: ann.token,
        })
      ).statusCode,
    ).toBe(204);
  });

  it('checkEmoji accepts RGI emoji (ZWJ, flags, keycaps) and :name:', () => {
    for (const ok of ['😀', '👨‍👩‍👧', '🇫🇷', '1️⃣', ':party_parrot:']) expect(checkEmoji(ok)).toBe(ok);
  });
});

describe('notifications', () => {
  const notificationsOf = (userId: string) =>
    api.t.db
      .selectFrom('notifications')
      .select(['type', 'data', 'collapse_key', 'actor_id'])
      .where('user_id', '=', userId)
      .orderBy('inserted_at')
      .execute();

  it('message (collapsed per conversation, not when muted), mention, reply; none to the sender', async () => {
    const [x, y, z] = (await Promise.all(['msg_nx', 'msg_ny', 'msg_nz'].map((n) => api.register(n)))) as [
      User,
      User,
      User,
    ];
    const group = (
      await api.call({
        method: 'POST',
        url: '/api/v1/conversations',
        token: x.token,
        payload: { user_ids: [y.user.id, z.user.id] },
      })
    ).json().id;
    await api.call({
      method: 'PATCH',
      url: `/api/v1/conversations/${group}`,
      token: z.token,
      payload: { muted: true },
    });
    await send(x, group, { content: 'first' });
    await send(x, group, { content: 'second' });
    expect((await notificationsOf(x.user.id)).length).toBe(0);
    const forY = await notificationsOf(y.user.id);
    expect(forY).toHaveLength(1);
    expect(forY[0]).toMatchObject({
      type: 'message',
      collapse_key: `conversation:${group}`,
      actor_id: x.user.id,
    });
    expect(await notificationsOf(z.user.id)).toHaveLength(0);

    const mention = (await send(x, group, { content: 'hey @MSG_NZ look' })).json();
    expect((await notificationsOf(z.user.id)).map((n) => n.type)).toEqual(['mention']);
    await send(y, group, { content: 'answer', reply_to_id: mention.id });
    expect((await notificationsOf(x.user.id)).map((n) => n.type)).toEqual(['reply']);
  });

  it('none to a participant who blocked the sender: no message, mention or reply notification', async () => {
    const [x, y, z] = (await Promise.all(['msg_bx', 'msg_by', 'msg_bz'].map((n) => api.register(n)))) as [
      User,
      User,
      User,
    ];
    const group = (
      await api.call({
        method: 'POST',
        url: '/api/v1/conversations',
        token: x.token,
        payload: { user_ids: [y.user.id, z.user.id] },
      })
    ).json().id;
    // y blocks x after the group exists: x may still write there (group DMs), y hears nothing of it.
    const blocked = await api.call({
      method: 'POST',
      url: '/api/v1/blocks',
      token: y.token,
      payload: { username: 'msg_bx' },
    });
    expect(blocked.statusCode).toBe(204);
    const fromY = (await send(y, group, { content: 'before the block took effect' })).json();
    expect((await send(x, group, { content: 'plain' })).statusCode).toBe(201);
    expect((await send(x, group, { content: 'hey @msg_by' })).statusCode).toBe(201);
    expect((await send(x, group, { content: 'a reply', reply_to_id: fromY.id })).statusCode).toBe(201);
    expect(await notificationsOf(y.user.id)).toEqual([]);
    // z, who blocked nobody, got the collapsed message notification; the mention was not theirs.
    expect((await notificationsOf(z.user.id)).map((n) => n.type)).toEqual(['message']);
    // …and y's own messages still notify x (the block is one-way for notifications).
    expect((await notificationsOf(x.user.id)).map((n) => n.type)).toEqual(['message']);
  });

  it('finds @mentions', () => {
    expect(mentionedUsernames('@abc hi @Def_1, mail a@bcd.com @x @toolong_toolong_toolong')).toEqual([
      'abc',
      'def_1',
    ]);
  });
});

describe('statements per send', () => {
  // A test double of the bus: what was published, in order.
  const recording = () => {
    const published: DomainEvent[] = [];
    const events: EventBus = { publish: (e) => void published.push(e), subscribe: () => () => undefined, close: async () => undefined };
    return { events, published };
  };
  const sender = (who: User) => ({ id: who.user.id, username: who.user.username, display_name: null, avatar_url: null });
  // The app's realtime gateway produces the events of earlier requests in the background,
  // on the same pool: let it finish (when present), and never count its resume-buffer writes.
  const settle = async () => {
    const gateway = (api.app as unknown as { gateway?: { drain?: () => Promise<void> } }).gateway;
    await gateway?.drain?.();
  };
  const ofSend = (queries: string[]) => queries.filter((q) => !/gateway_/.test(q));

  it('a plain text send is ONE statement (a regression here costs every message)', async () => {
    const group = await newGroup();
    const { events, published } = recording();
    await settle();
    const counted = await countQueries(api.t, () =>
      sendMessage(api.t.db, events, sender(ann), group, { content: 'hello @msg_cat' }),
    );
    const { result } = counted;
    const queries = ofSend(counted.queries);
    // Access, seq, insert, participants, notifications: one statement, its own transaction.
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/^\s*WITH me AS/);
    expect(result).toMatchObject({ content: 'hello @msg_cat', seq: 1 });
    // …and it did all of it: cat is mentioned, bob gets the collapsed message notification.
    const kinds = await api.t.db
      .selectFrom('notifications')
      .select(['user_id', 'type'])
      .where('data', '@>', JSON.stringify({ message_id: result.id }))
      .orderBy('type')
      .execute();
    expect(kinds).toEqual([
      { user_id: cat.user.id, type: 'mention' },
      { user_id: bob.user.id, type: 'message' },
    ]);
    expect(published.map((e) => e.type).sort()).toEqual(['message.created', 'notification.created', 'notification.created']);
    expect((await conversation(ann, group)).unread_count).toBe(0);
    expect((await conversation(bob, group)).unread_count).toBe(1);
  });

  it('a refused send writes nothing, and access is checked before the content', async () => {
    const group = await newGroup();
    const before = (await conversation(ann, group)).last_message_seq;
    const outsider = await api.register('msg_outsider');
    expect((await send(outsider, group, { content: 'let me in' })).statusCode).toBe(404);
    expect((await send(outsider, group, { content: '   ' })).statusCode).toBe(404);
    expect((await conversation(ann, group)).last_message_seq).toBe(before);
    expect((await send(ann, group, { content: '   ' })).statusCode).toBe(422);
  });

  it('a send with a nonce adds one statement; its retry is two and writes nothing', async () => {
    const { events } = recording();
    await settle();
    const first = await countQueries(api.t, () =>
      sendMessage(api.t.db, events, sender(bob), dm, { content: 'once', nonce: 'pinned-nonce' }),
    );
    // preflight (access, nonce, reply), BEGIN, the send, COMMIT: a nonce conflict must roll back.
    expect(ofSend(first.queries)).toHaveLength(4);
    const retry = await countQueries(api.t, () =>
      sendMessage(api.t.db, events, sender(bob), dm, { content: 'once', nonce: 'pinned-nonce' }),
    );
    expect(retry.result.id).toBe(first.result.id);
    expect(ofSend(retry.queries)).toHaveLength(2);
  });
});
