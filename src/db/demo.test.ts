// The demo generator at a tiny scale: the sizes it promises, skew, valid rows (the
// database's own constraints hold: it is an ordinary INSERT), and every counter the app
// keeps consistent with the messages; the CLI runs it behind a progress bar.
import { describe, expect, it } from 'vitest';
import { cgraph } from '../../test/run-cli.ts';
import { useTestDatabase } from '../../test/db.ts';
import { verifyPassword } from '../modules/accounts/password.ts';
import { demoSize, DEMO_PASSWORD, messageBatches, planDemo, writeDemo } from './demo.ts';

const t = useTestDatabase();

/** Rows of the counters that disagree with the messages (all should be empty). */
async function inconsistencies(tag: string) {
  const q = async (text: string) => (await t.pool.query(text, [`demo${tag}\\_%`])).rows;
  const demoConversations = `SELECT DISTINCT p.conversation_id AS id FROM conversation_participants p JOIN users u ON u.id = p.user_id WHERE u.username LIKE $1`;
  return {
    counters: await q(`
      SELECT c.id, c.last_message_seq, c.last_message_at, agg.n, agg.max_seq, agg.last_at
      FROM conversations c JOIN (${demoConversations}) d ON d.id = c.id
      LEFT JOIN LATERAL (SELECT count(*)::int AS n, max(seq)::int AS max_seq, max(inserted_at) AS last_at FROM messages m WHERE m.conversation_id = c.id) agg ON true
      WHERE c.last_message_seq <> agg.n OR c.last_message_seq <> coalesce(agg.max_seq, 0)
         OR c.last_message_at IS DISTINCT FROM agg.last_at`),
    // History order (by id) must be seq order, as the app's sends guarantee.
    order: await q(`
      SELECT m.id FROM messages m JOIN (${demoConversations}) d ON d.id = m.conversation_id
      WHERE EXISTS (SELECT 1 FROM messages o WHERE o.conversation_id = m.conversation_id AND o.seq < m.seq AND o.id > m.id)`),
    reads: await q(`
      SELECT p.id FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
      JOIN users u ON u.id = p.user_id WHERE u.username LIKE $1 AND (
        p.last_read_seq > c.last_message_seq
        OR p.last_activity_at IS DISTINCT FROM coalesce(c.last_message_at, c.inserted_at)
        OR p.last_read_seq < coalesce((SELECT max(seq) FROM messages m WHERE m.conversation_id = c.id AND m.sender_id = p.user_id), 0))`),
    // The messages are loaded without per-row foreign-key triggers when the role allows:
    // every reference must hold anyway (a sender is a participant, so user and conversation
    // exist; a reply points into its own conversation).
    senders: await q(`
      SELECT m.id FROM messages m JOIN (${demoConversations}) d ON d.id = m.conversation_id
      WHERE NOT EXISTS (SELECT 1 FROM conversation_participants p WHERE p.conversation_id = m.conversation_id AND p.user_id = m.sender_id)
         OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.sender_id)`),
    replies: await q(`
      SELECT m.id FROM messages m JOIN (${demoConversations}) d ON d.id = m.conversation_id
      WHERE m.reply_to_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.conversation_id = m.conversation_id AND r.id = m.reply_to_id AND r.seq < m.seq)`),
  };
}

describe('demo data', () => {
  it('sizes scale linearly from 10 million messages', () => {
    expect(demoSize(1)).toEqual({ users: 100_000, dms: 150_000, groups: 8_000, messages: 10_000_000 });
    expect(demoSize(0.05).messages).toBe(500_000);
    expect(() => demoSize(0)).toThrow(RangeError);
    // The plan is skewed: one conversation holds many times the median's messages.
    const plan = planDemo(0.01, 42);
    const counts = plan.conversations.map((c) => c.messages).sort((a, b) => b - a);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(counts[0]!).toBeGreaterThan(100 * counts[Math.floor(counts.length / 2)]!);
    expect(plan.conversations.filter((c) => c.members.includes(1)).length).toBe(500);
    expect(plan.conversations.some((c) => c.isGroup && c.members.length > 5)).toBe(true);
  });

  it('message batches cover every (conversation, seq) exactly once, big conversations in slices', () => {
    const counts = [3, 0, 12, 25, 1, 4, 30, 2, 2];
    const batches = messageBatches(counts, 10);
    const seen = new Map<string, number>();
    for (const b of batches) {
      expect(b.rows).toBeLessThanOrEqual(10);
      for (let idx = b.from; idx <= b.to; idx++) {
        for (let s = Math.max(1, b.seqFrom); s <= Math.min(counts[idx - 1]!, b.seqTo); s++) {
          seen.set(`${idx}:${s}`, (seen.get(`${idx}:${s}`) ?? 0) + 1);
        }
      }
    }
    expect(seen.size).toBe(counts.reduce((a, b) => a + b, 0));
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(batches.reduce((n, b) => n + b.rows, 0)).toBe(seen.size);
  });

  it('writes consistent counters, read positions and history order', async () => {
    const plan = planDemo(0.0005, 7);
    const client = await t.pool.connect();
    const seen: number[] = [];
    let result;
    try {
      result = await writeDemo(client, plan, (done, total) => seen.push(done / total));
      // The connection's replication role is back to normal: foreign keys are enforced again.
      const role = await client.query(`SHOW session_replication_role`);
      expect(role.rows[0].session_replication_role).toBe('origin');
    } finally {
      client.release();
    }
    expect(seen.at(-1)).toBe(1);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const counts = (
      await t.pool.query(
        `SELECT (SELECT count(*) FROM users WHERE username LIKE $1)::int AS users,
                (SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.username LIKE $1)::int AS messages,
                (SELECT count(*) FROM friendships f JOIN users u ON u.id = f.user_id WHERE u.username LIKE $1)::int AS friendships`,
        [`demo${result.tag}\\_%`],
      )
    ).rows[0];
    expect(counts).toEqual({ users: plan.size.users, messages: 5000, friendships: result.friendships });
    expect(result.friendships).toBeGreaterThan(0);
    const replies = await t.pool.query(`SELECT count(*)::int AS n FROM messages WHERE reply_to_id IS NOT NULL`);
    expect(replies.rows[0].n).toBeGreaterThan(0);
    // Reactions: on about 1 message in 10, each by a participant of the message's conversation.
    const reacted = (
      await t.pool.query(
        `SELECT count(*)::int AS rows, count(DISTINCT r.message_id)::int AS messages,
                count(*) FILTER (WHERE p.user_id IS NULL)::int AS strangers
         FROM reactions r JOIN messages m ON m.id = r.message_id JOIN users u ON u.id = m.sender_id AND u.username LIKE $1
         LEFT JOIN conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = r.user_id`,
        [`demo${result.tag}\\_%`],
      )
    ).rows[0];
    expect(reacted.rows).toBe(result.reactions);
    expect(reacted.messages).toBeGreaterThan(300);
    expect(reacted.messages).toBeLessThan(700);
    expect(reacted.strangers).toBe(0);

    expect(await inconsistencies(result.tag)).toEqual({ counters: [], order: [], reads: [], senders: [], replies: [] });
    // Some participants have unread messages, none of them their own (checked above).
    const unread = await t.pool.query(
      `SELECT count(*)::int AS n FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id WHERE c.last_message_seq > p.last_read_seq`,
    );
    expect(unread.rows[0].n).toBeGreaterThan(0);
    const power = await t.pool.query(`SELECT password_hash FROM users WHERE username = $1`, [result.powerUser]);
    expect(await verifyPassword(power.rows[0].password_hash, DEMO_PASSWORD)).toBe(true);
  });

  it('cgraph db demo --scale runs with a progress bar; a second run adds alongside', async () => {
    const env = { DATABASE_URL: t.url };
    for (let i = 0; i < 2; i++) {
      const run = await cgraph(['db', 'demo', '--scale', '0.0001'], env);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/demo data \[.*\] 100%/);
      expect(run.stdout).toMatch(/1,000 messages/);
      const tag = /\(tag ([0-9a-z]{4})\)/.exec(run.stdout)![1]!;
      expect(await inconsistencies(tag)).toEqual({ counters: [], order: [], reads: [], senders: [], replies: [] });
    }
    const bad = await cgraph(['db', 'demo', '--scale', 'lots'], env);
    expect(bad.code).toBe(2);
  });
});
