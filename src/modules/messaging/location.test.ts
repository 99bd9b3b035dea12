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
  listMessages,
  readTargetSeq,
  softDeleteMessage,
  type NewMessage,
} from './messages.ts';

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
    const page = await listMessages(t.db, CHANNEL, channelId, userId, { limit: 10 });
    expect(page.data.map((m) => m.content)).toEqual(['two', 'one']);
    expect(page.data[1]!.reactions).toEqual([{ emoji: '🔥', count: 1, me: true }]);
    expect(page.data[0]!.sender?.username).toBe('chan_user');

    expect((await editMessage(t.db, CHANNEL, channelId, second!.id, 'two!'))?.edited_at).toBeInstanceOf(Date);
    await transaction(t.db, async (trx) => softDeleteMessage(trx, CHANNEL, channelId, first!.id));
    const after = await listMessages(t.db, CHANNEL, channelId, userId, { limit: 10 });
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
