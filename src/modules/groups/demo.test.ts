// The groups demo at a tiny scale: the promised shape, valid rows (the database's own
// constraints hold) and every counter consistent with the rows.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import { groupsDemoSize, planGroupsDemo, writeGroupsDemo } from './demo.ts';
import { loadChannelAccess, Permission } from './permissions.ts';

const t = useTestDatabase();

describe('groups demo', () => {
  it('plans large groups, the benchmark shape and skewed messages', () => {
    expect(groupsDemoSize(1)).toEqual({ groups: 300, largeMembers: 12_000, channelMessages: 1_000_000 });
    const plan = planGroupsDemo(1, 100_000);
    expect(plan.groups[0]).toMatchObject({ roles: 100, channels: 50, members: 12_000 });
    expect(plan.groups.filter((g) => g.members >= 10_000)).toHaveLength(3);
    expect(plan.channels.reduce((n, c) => n + c.msgs, 0)).toBe(1_000_000);
    expect(() => groupsDemoSize(0)).toThrow(RangeError);
  });

  it('writes consistent groups, members, channels and messages', async () => {
    await t.pool.query(
      `INSERT INTO users (username, email, password_hash) SELECT 'gd_' || g, 'gd_' || g || '@demo.invalid', 'x' FROM generate_series(1, 80) AS g`,
    );
    const client = await t.pool.connect();
    let result;
    try {
      result = await writeGroupsDemo(client, 0.002);
    } finally {
      client.release();
    }
    expect(result.groups).toBe(4);
    expect(result.channelMessages).toBe(2000);
    const q = async (text: string) => (await t.pool.query(text)).rows;
    // member_count (kept by the trigger) matches the rows; owners are members.
    expect(await q(`SELECT g.id FROM groups g WHERE member_count <> (SELECT count(*) FROM group_members m WHERE m.group_id = g.id)`)).toEqual([]);
    expect(await q(`SELECT g.id FROM groups g WHERE NOT EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = g.owner_id)`)).toEqual([]);
    expect(await q(`SELECT g.id FROM groups g WHERE (SELECT count(*) FROM roles r WHERE r.group_id = g.id AND r.is_default) <> 1`)).toEqual([]);
    // The count trigger, switched off for the bulk insert, is back on.
    expect((await q(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'group_members_count_trigger'`))[0].tgenabled).toBe('O');
    // Channel counters match the messages; history order (by id) is seq order.
    expect(
      await q(`SELECT c.id FROM channels c LEFT JOIN LATERAL (SELECT count(*)::int AS n, max(seq)::int AS s, max(inserted_at) AS at FROM channel_messages m WHERE m.channel_id = c.id) a ON true
               WHERE c.last_message_seq <> a.n OR c.last_message_seq <> coalesce(a.s, 0) OR c.last_message_at IS DISTINCT FROM a.at`),
    ).toEqual([]);
    expect(
      await q(`SELECT m.id FROM channel_messages m WHERE EXISTS (SELECT 1 FROM channel_messages o WHERE o.channel_id = m.channel_id AND o.seq < m.seq AND o.id > m.id)`),
    ).toEqual([]);
    expect(await q(`SELECT 1 FROM channel_read_states rs JOIN channels c ON c.id = rs.channel_id WHERE rs.last_read_seq > c.last_message_seq`)).toEqual([]);
    // The first group has the benchmark shape, and the permission loader reads it.
    const [big] = await q(`SELECT id, owner_id FROM groups WHERE name = 'Demo group 1'`);
    expect((await q(`SELECT count(*)::int AS n FROM roles WHERE group_id = '${big.id}'`))[0].n).toBe(101);
    const channels = await q(`SELECT id FROM channels WHERE group_id = '${big.id}' ORDER BY position`);
    expect(channels).toHaveLength(50);
    const access = await loadChannelAccess(t.db, channels[0].id, big.owner_id);
    expect(access && access.permissions & Permission.SEND_MESSAGES).toBeTruthy();
  });
});
