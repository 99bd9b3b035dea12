// The shared message store at the channel location: the same code that serves DMs must
// write and read channel_messages, channel reactions and channel_read_states.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import { fail, transaction } from '../../db/unit-of-work.ts';
import { newId } from '../../lib/ids.ts';
import { CHANNEL, CONVERSATION, type MessageLocation } from './location.ts';
import {
  addReaction,
  appendMessage,
  editMessage,
  findMessageView,
  readTargetSeq,
  softDeleteMessage,
  type NewMessage,
} from './messages.ts';
import { listMessages } from './history.ts';

const t = useTestDatabase();
let userId = '';
let channelId = '';

beforeAll(async () => {
  userId = newId();
  await t.db
    .insertInto('users')
    .values({ id: userId, email: 'chan@example.com', username: 'chan_user', password_hash: 'x' })
    .execute();
  const groupId = newId();
  await t.db.insertInto('groups').values({ id: groupId, name: 'G', owner_id: userId }).execute();
  channelId = newId();
  await t.db.insertInto('channels').values({ id: channelId, group_id: groupId, name: 'general' }).execute();
});

// As the owning context does: a nonce conflict rolls the seq bump back.
async function append(loc: MessageLocation, input: NewMessage) {
  const outcome = await transaction(
    t.db,
    async (trx) => (await appendMessage(trx, loc, input)) ?? fail('nonce_taken'),
  );
  return outcome.ok ? outcome.value : undefined;
}

describe('the CHANNEL location', () => {
  it('sends with seq, dedupes a nonce, pages history, reacts, edits, deletes and tracks reads', async () => {
    const base = { containerId: channelId, senderId: userId, type: 'text' as const };
    const first = await append(CHANNEL, { ...base, content: 'one', nonce: 'n1' });
    expect(first?.seq).toBe(1);
    expect(await append(CHANNEL, { ...base, content: 'dup', nonce: 'n1' })).toBeUndefined();
    const second = await append(CHANNEL, { ...base, content: 'two', replyToId: first!.id });
    expect(second?.seq).toBe(2);
    const channel = await t.db
      .selectFrom('channels')
      .select(['last_message_seq', 'last_message_at'])
      .where('id', '=', channelId)
      .executeTakeFirstOrThrow();
    expect(channel.last_message_seq).toBe(2);
    expect(channel.last_message_at?.toISOString()).toBe(second!.inserted_at.toISOString());

    await transaction(t.db, (trx) => addReaction(trx, CHANNEL, channelId, first!.id, userId, '🔥'));
    const page = (await listMessages(t.db, CHANNEL, channelId, userId, { limit: 10 })).parse();
    expect(page.data.map((m) => m.content)).toEqual(['two', 'one']);
    expect(page.data[1]!.reactions).toEqual([{ emoji: '🔥', count: 1, me: true }]);
    expect(page.data[0]!.sender?.username).toBe('chan_user');

    expect((await editMessage(t.db, CHANNEL, channelId, second!.id, 'two!'))?.edited_at).toBeInstanceOf(Date);
    await transaction(t.db, async (trx) => softDeleteMessage(trx, CHANNEL, channelId, first!.id));
    const after = (await listMessages(t.db, CHANNEL, channelId, userId, { limit: 10 })).parse();
    expect(after.data[1]).toMatchObject({ content: '', deleted: true, reactions: [] });

    await CHANNEL.markRead(t.db, channelId, userId, 2);
    await CHANNEL.markRead(t.db, channelId, userId, 1);
    const state = await t.db
      .selectFrom('channel_read_states')
      .select('last_read_seq')
      .where('channel_id', '=', channelId)
      .executeTakeFirstOrThrow();
    expect(state.last_read_seq).toBe(2);
    expect(await readTargetSeq(t.db, CHANNEL, channelId)).toBe(2);
  });
});

describe('appendMessage under a nonce race', () => {
  it('the second sender waits on the seq lock, then finds the nonce taken and gets undefined', async () => {
    const conversationId = newId();
    await t.db.insertInto('conversations').values({ id: conversationId, is_group: true }).execute();
    const input = {
      containerId: conversationId,
      senderId: userId,
      type: 'text' as const,
      content: 'hi',
      nonce: 'race',
    };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let firstAppended!: () => void;
    const appended = new Promise<void>((resolve) => (firstAppended = resolve));
    const first = t.db.transaction().execute(async (trx) => {
      const row = await appendMessage(trx, CONVERSATION, input);
      firstAppended();
      await gate; // holds the conversation row lock
      return row;
    });
    await appended;
    const second = append(CONVERSATION, input);
    // Give the second transaction time to reach the lock, then let the first commit.
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    expect((await first)?.seq).toBe(1);
    expect(await second).toBeUndefined();
    const row = await t.db
      .selectFrom('conversations')
      .select('last_message_seq')
      .where('id', '=', conversationId)
      .executeTakeFirstOrThrow();
    expect(row.last_message_seq).toBe(1);
  });
});

describe('history pages rendered by PostgreSQL', () => {
  it('hold exactly the object views of their messages, in both locations, and page by cursor', async () => {
    const other = newId();
    await t.db
      .insertInto('users')
      .values({ id: other, email: 'render@example.com', username: 'render_user', password_hash: 'x', display_name: 'Ré "quoted" ✓', avatar_url: 'https://a.example/x.png' })
      .execute();
    const conversationId = newId();
    await t.db.insertInto('conversations').values({ id: conversationId, is_group: true }).execute();
    const group = await t.db.selectFrom('channels').select('group_id').where('id', '=', channelId).executeTakeFirstOrThrow();
    const freshChannel = newId();
    await t.db.insertInto('channels').values({ id: freshChannel, group_id: group.group_id, name: 'rendered' }).execute();
    for (const [loc, containerId] of [[CONVERSATION, conversationId], [CHANNEL, freshChannel]] as const) {
      const base = { containerId, type: 'text' as const };
      const sent: Array<{ id: string }> = [];
      for (let i = 0; i < 7; i++) {
        const senderId = i === 3 ? null : i % 2 ? other : userId; // one system-like message without a sender
        sent.push((await append(loc, { ...base, senderId, type: i === 3 ? 'system' : 'text', content: `m${i} "\\ ✓`, nonce: i === 5 ? 'nonce-5' : null }))!);
      }
      await transaction(t.db, async (trx) => {
        await addReaction(trx, loc, containerId, sent[1]!.id, userId, '🔥');
        await addReaction(trx, loc, containerId, sent[1]!.id, other, '🔥');
        await addReaction(trx, loc, containerId, sent[1]!.id, other, ':party:');
        await addReaction(trx, loc, containerId, sent[2]!.id, other, '👍');
      });
      await t.db
        .insertInto('attachments')
        .values({
          uploader_id: userId,
          [loc === CONVERSATION ? 'message_id' : 'channel_message_id']: sent[4]!.id,
          filename: 'a b.png',
          content_type: 'image/png',
          size: 12,
          storage_key: `k-${containerId}`,
        })
        .execute();
      await editMessage(t.db, loc, containerId, sent[4]!.id, 'edited');
      await transaction(t.db, async (trx) => softDeleteMessage(trx, loc, containerId, sent[2]!.id));

      const expected = await Promise.all(
        [...sent].reverse().map(async (m) => (await findMessageView(t.db, loc, containerId, m.id, userId))!),
      );
      const first = await listMessages(t.db, loc, containerId, userId, { limit: 4 });
      expect(first.size).toBe(4);
      const page1 = first.parse();
      expect(page1.data).toEqual(expected.slice(0, 4));
      const page2 = (await listMessages(t.db, loc, containerId, userId, { limit: 4, cursor: page1.next_cursor! })).parse();
      expect(page2.data).toEqual(expected.slice(4));
      expect(page2.next_cursor).toBeNull();
      // `after`: the oldest messages newer than the anchor, still newest first.
      const after = (await listMessages(t.db, loc, containerId, userId, { limit: 2, after: sent[1]!.id })).parse();
      expect(after.data.map((m) => m.id)).toEqual([sent[3]!.id, sent[2]!.id]);
      const newer = (await listMessages(t.db, loc, containerId, userId, { limit: 2, cursor: after.next_cursor! })).parse();
      expect(newer.data.map((m) => m.id)).toEqual([sent[5]!.id, sent[4]!.id]);
      const empty = await listMessages(t.db, loc, containerId, userId, { limit: 5, before: sent[0]!.id });
      expect(empty.size).toBe(0);
      expect(empty.parse()).toEqual({ data: [], next_cursor: null });
    }
  });
});
