// History page statements are planned once per connection (history.ts, historyRange), also
// for a conversation that holds a large share of all messages: while the planner could see
// the container, PostgreSQL kept planning such a conversation's pages anew (its custom
// plans looked cheaper than the generic one). A database of its own, with that shape.
import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import { newId } from '../../lib/ids.ts';
import { participantGuard } from './conversation-messages.ts';
import { listMessages } from './history.ts';
import { CONVERSATION } from './location.ts';

const t = useTestDatabase();
const me = newId();
let big = '';

beforeAll(async () => {
  await t.db.insertInto('users').values({ id: me, email: 'hp_me@example.com', username: 'hp_me', password_hash: 'x' }).execute();
  // One conversation of 20 000 messages among 20 of 1 000: conversations averaging well
  // over ten pages, one of them holding a large share of all messages.
  await sql`INSERT INTO conversations (is_group) SELECT true FROM generate_series(1, 21)`.execute(t.db);
  await sql`INSERT INTO conversation_participants (conversation_id, user_id) SELECT id, ${me}::uuid FROM conversations`.execute(t.db);
  big = (await t.db.selectFrom('conversations').select('id').orderBy('id').limit(1).executeTakeFirstOrThrow()).id;
  await sql`INSERT INTO messages (conversation_id, sender_id, content, seq)
            SELECT c.id, ${me}::uuid, 'm' || g, g FROM conversations c CROSS JOIN generate_series(1, 1000) AS g WHERE c.id <> ${big}::uuid
            UNION ALL SELECT ${big}::uuid, ${me}::uuid, 'm' || g, g FROM generate_series(1, 20000) AS g`.execute(t.db);
  await sql`VACUUM ANALYZE conversations, conversation_participants, messages`.execute(t.db);
});

it('history pages, the newest page too, settle on their generic plans after their first runs: no planning per page', async () => {
  const anchor = (await t.db.selectFrom('messages').select('id').where('conversation_id', '=', big).where('seq', '=', 10000).executeTakeFirstOrThrow()).id;
  // One connection: each pooled connection holds its own prepared statements.
  const plans = await t.db.connection().execute(async (conn) => {
    for (let i = 0; i < 8; i++) {
      for (const before of [undefined, anchor]) {
        const page = await listMessages(conn, CONVERSATION, big, me, { limit: 50, before, guard: participantGuard });
        expect(page.size).toBe(50);
      }
    }
    return (
      await sql<{ generic: number; custom: number }>`SELECT generic_plans::int AS generic, custom_plans::int AS custom
        FROM pg_prepared_statements WHERE statement LIKE '%json_agg(v.view ORDER BY v.id DESC)%'`.execute(conn)
    ).rows;
  });
  // The first page's statement and the later pages'. PostgreSQL's rule: five custom plans,
  // then the generic one whenever it costs no more than they did on average.
  expect(plans).toEqual([
    { generic: 3, custom: 5 },
    { generic: 3, custom: 5 },
  ]);
});
