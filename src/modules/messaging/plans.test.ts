// The hot reads of messaging are index ranges without a sort over the whole set, and the
// unread count does not depend on the backlog (it is arithmetic on two counters).
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { explainPlan, useTestDatabase } from '../../../test/db.ts';
import { newId } from '../../lib/ids.ts';
import { conversationPageQuery, listConversations } from './conversations.ts';
import { CONVERSATION } from './location.ts';
import { participantGuard } from './conversation-messages.ts';
import { historyPageQuery } from './history.ts';

const t = useTestDatabase();
const me = newId();
const other = newId();
let big = '';

const plan = (statement: string, parameters: readonly unknown[]) => explainPlan(t, statement, parameters);
void plan;

beforeAll(async () => {
  for (const [id, name] of [
    [me, 'plan_me'],
    [other, 'plan_other'],
  ] as const) {
    await t.db
      .insertInto('users')
      .values({ id, email: `${name}@example.com`, username: name, password_hash: 'x' })
      .execute();
  }
  // 300 group conversations for me; one of them holds 10 000 messages I have not read.
  await sql`INSERT INTO conversations (is_group) SELECT true FROM generate_series(1, 300)`.execute(t.db);
  await sql`INSERT INTO conversation_participants (conversation_id, user_id, last_activity_at)
            SELECT id, ${me}::uuid, now() - random() * interval '30 days' FROM conversations`.execute(t.db);
  big = (await t.db.selectFrom('conversations').select('id').limit(1).executeTakeFirstOrThrow()).id;
  await sql`INSERT INTO messages (conversation_id, sender_id, content, seq)
            SELECT ${big}::uuid, ${other}::uuid, 'm' || g, g FROM generate_series(1, 10000) AS g`.execute(
    t.db,
  );
  // …and the other 299 hold 30 000 between them, so messages of one are a small part of all.
  await sql`INSERT INTO messages (conversation_id, sender_id, content, seq)
            SELECT c.id, ${other}::uuid, 'x', g FROM conversations c CROSS JOIN generate_series(1, 100) AS g
            WHERE c.id <> ${big}::uuid`.execute(t.db);
  await sql`UPDATE conversations SET last_message_seq = 10000, last_message_at = now() WHERE id = ${big}::uuid`.execute(
    t.db,
  );
  await sql`VACUUM ANALYZE`.execute(t.db);
});

describe('plans', () => {
  it('a history page is a range of messages_conversation_id_id_index in both directions, without a sort', async () => {
    const anchor = (
      await t.db.selectFrom('messages').select('id').where('seq', '=', 5000).executeTakeFirstOrThrow()
    ).id;
    // With and without the participant guard the HTTP path adds (an InitPlan, run once);
    // the custom plan of the first executions and the generic plan a prepared statement
    // settles on later.
    const guard = participantGuard;
    for (const direction of ['older', 'newer'] as const) {
      for (const [anchored, g] of [[false, undefined], [true, undefined], [false, guard], [true, guard]] as const) {
        const params = { containerId: big, viewerId: me, anchor: anchored ? anchor : undefined, limit: 50, fetch: 51, guardArg: null };
        const q = historyPageQuery(t.db, CONVERSATION, direction, anchored, g, params).compile();
        for (const generic of [false, true]) {
          const p = await explainPlan(t, q.sql, q.parameters, { generic });
          expect(p).toMatch(/Index Scan (Backward )?using messages_conversation_id_id_index on messages m/);
          // No sort of messages: the only sorts are above the Limit (numbering the page's
          // own 51 rows) and inside a message's reactions.
          expect(p).not.toMatch(/Sort Key: m\./);
          expect(p).toMatch(/Limit[\s\S]*Index Scan (Backward )?using messages_conversation_id_id_index/);
        }
      }
    }
  });

  it('the conversation list is a range of the participants index, without a sort', async () => {
    const anyCursor = (await listConversations(t.db, me, { limit: 10 })).parse().next_cursor!;
    const [afterAt, afterId] = JSON.parse(Buffer.from(anyCursor, 'base64url').toString()) as [string, string];
    for (const after of [false, true]) {
      const q = conversationPageQuery(t.db, after, { userId: me, afterAt, afterId, limit: 50, fetch: 51 }).compile();
      for (const generic of [false, true]) {
        const p = await explainPlan(t, q.sql, q.parameters, { generic });
        expect(p).toContain('conversation_participants_user_id_last_activity_at_index');
        // Sorts only above the Limit (numbering the page's 51 rows) and inside a
        // conversation's participants subquery; the list itself never.
        expect(p).not.toMatch(/Sort Key: cp\./);
        expect(p).toMatch(/Limit[\s\S]*Index Scan (Backward )?using conversation_participants_user_id_last_activity_at_index/);
      }
    }
  });

  it('10 000 unread messages are counted as cheaply as one', async () => {
    const page = (await listConversations(t.db, me, { limit: 100 })).parse();
    const all = [...page.data];
    let cursor = page.next_cursor;
    while (cursor) {
      const next = (await listConversations(t.db, me, { limit: 100, cursor })).parse();
      all.push(...next.data);
      cursor = next.next_cursor;
    }
    expect(all).toHaveLength(300);
    expect(all.find((c) => c.id === big)?.unread_count).toBe(10000);
    // The list statement never touches messages.
    const q = conversationPageQuery(t.db, true, { userId: me, afterAt: undefined, afterId: undefined, limit: 50, fetch: 51 }).compile();
    expect(q.sql).not.toMatch(/messages/);
  });
});
