// Demo groups for `cgraph db demo` (after the users and DMs exist): groups among the
// existing users, a few very large (10 000+ members at scale 1), dozens of channels and
// roles, overwrites, role assignments, channel messages and read positions. As in
// src/db/demo.ts the shape is planned here in small arrays and the rows are produced by
// set-based `INSERT … SELECT generate_series` statements, so nothing row-sized crosses
// the wire; every counter the app keeps (groups.member_count by the trigger,
// channels.last_message_seq / last_message_at) is consistent with the rows.
import type pg from 'pg';
import { randomInt } from 'node:crypto';
import { DEFAULT_EVERYONE_PERMISSIONS, Permission as P } from './permissions.ts';

export interface GroupsDemoSize {
  groups: number;
  /** Members of each of the large groups (capped by the users available). */
  largeMembers: number;
  channelMessages: number;
}

export function groupsDemoSize(scale: number): GroupsDemoSize {
  if (!(scale > 0) || scale > 10) throw new RangeError('scale must be a number above 0 and at most 10');
  return {
    groups: Math.max(4, Math.round(300 * scale)),
    largeMembers: Math.max(30, Math.round(12_000 * Math.min(1, scale))),
    channelMessages: Math.max(200, Math.round(1_000_000 * scale)),
  };
}

interface PlannedGroup {
  idx: number;
  members: number;
  /** Roles besides @everyone; role r (1..roles) has position r. */
  roles: number;
  channels: number;
  isPublic: boolean;
}

interface PlannedChannel {
  idx: number;
  group: number;
  /** 1..channels within the group. */
  pos: number;
  msgs: number;
}

/**
 * Group 1 is the benchmark shape (100 roles, 50 channels, a large membership); groups 2
 * and 3 are large too; the rest are small or middling. Messages are skewed: a few busy
 * channels, a long tail.
 */
export function planGroupsDemo(
  scale: number,
  users: number,
  overrides: Partial<GroupsDemoSize> = {},
): { groups: PlannedGroup[]; channels: PlannedChannel[] } {
  const size = { ...groupsDemoSize(scale), ...overrides };
  const groups: PlannedGroup[] = [];
  for (let idx = 1; idx <= size.groups; idx++) {
    const large = idx <= 3;
    groups.push({
      idx,
      members: Math.max(1, Math.min(users, large ? size.largeMembers : 5 + ((idx * 7919) % 400))),
      roles: idx === 1 ? 100 : large ? 30 : 2 + (idx % 8),
      channels: idx === 1 ? 50 : large ? 40 : 3 + (idx % 10),
      isPublic: idx % 3 !== 2,
    });
  }
  const channels: PlannedChannel[] = [];
  let weightTotal = 0;
  const weights: number[] = [];
  for (const g of groups) {
    for (let pos = 1; pos <= g.channels; pos++) {
      // Busy first channels in big groups; 1/k decay within a group.
      const w = (g.idx <= 3 ? 50 : 1) / pos;
      channels.push({ idx: channels.length + 1, group: g.idx, pos, msgs: 0 });
      weights.push(w);
      weightTotal += w;
    }
  }
  let assigned = 0;
  channels.forEach((c, i) => {
    c.msgs = Math.floor((size.channelMessages * weights[i]!) / weightTotal);
    assigned += c.msgs;
  });
  channels[0]!.msgs += size.channelMessages - assigned;
  return { groups, channels };
}

export interface GroupsDemoResult {
  groups: number;
  members: number;
  roles: number;
  channels: number;
  channelMessages: number;
  largestGroupMembers: number;
  ms: number;
}

const PHRASES = ['gm', 'welcome!', 'has anyone tried the new release?', 'rules are pinned', 'lol', 'nice 🎉', 'ship it', 'meeting in 5', 'thanks!', 'see the docs'];

/** Permissions of demo role r of R: the top few moderate, the rest are cosmetic. */
const MOD = P.MANAGE_MESSAGES | P.KICK_MEMBERS | P.MENTION_EVERYONE;

/** `overrides` reshape the plan (the benchmark wants 10 000-member groups at a small scale). */
export async function writeGroupsDemo(
  client: pg.ClientBase,
  scale: number,
  overrides: Partial<GroupsDemoSize> = {},
): Promise<GroupsDemoResult> {
  const started = performance.now();
  const run = randomInt(1, 4096);
  await client.query(`CREATE TEMP TABLE demo_gusers ON COMMIT PRESERVE ROWS AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM users`);
  await client.query('ALTER TABLE demo_gusers ADD PRIMARY KEY (n)');
  const users = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM demo_gusers')).rows[0]!.n);
  if (users === 0) throw new Error('the groups demo needs users: run the users/DMs demo first');
  const plan = planGroupsDemo(scale, users, overrides);
  const baseMs = Date.now() - 30 * 24 * 3600 * 1000;

  // A UUIDv7 at time `ms` whose other bits are `run` and `lo`: unique by construction and
  // ordered by time, so message ids sort in seq order as the app's do.
  await client.query(`
    CREATE FUNCTION pg_temp.gdemo_id(ms bigint, run bigint, lo bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
      SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(run & 4095), 3, '0')
              || to_hex((-9223372036854775807 - 1) | (lo & 4611686018427387903)))::uuid
    $$`);
  await client.query(`
    CREATE TEMP TABLE demo_group (idx int PRIMARY KEY, id uuid NOT NULL, members int NOT NULL, roles int NOT NULL,
      channels int NOT NULL, is_public boolean NOT NULL, first_user int NOT NULL) ON COMMIT PRESERVE ROWS`);
  await client.query(
    `INSERT INTO demo_group
     SELECT g.idx, pg_temp.gdemo_id($1::bigint + g.idx, $2, g.idx::bigint << 40), g.members, g.roles, g.channels, g.is_public,
            1 + (g.idx * 104729) % $3
     FROM unnest($4::int[], $5::int[], $6::int[], $7::int[], $8::boolean[]) AS g(idx, members, roles, channels, is_public)`,
    [baseMs, run, users, plan.groups.map((g) => g.idx), plan.groups.map((g) => g.members), plan.groups.map((g) => g.roles), plan.groups.map((g) => g.channels), plan.groups.map((g) => g.isPublic)],
  );
  // Member k (0-based) of group g is user ((first_user - 1 + k) mod users) + 1: distinct within a group.
  const userOf = (k: string) => `(SELECT u.id FROM demo_gusers u WHERE u.n = 1 + (g.first_user - 1 + ${k}) % ${users})`;

  await client.query(
    `INSERT INTO groups (id, name, description, is_public, owner_id, inserted_at, updated_at)
     SELECT g.id, 'Demo group ' || g.idx, 'A demo group with ' || g.members || ' members', g.is_public, ${userOf('0')},
            to_timestamp(($1::bigint + g.idx) / 1000.0), to_timestamp(($1::bigint + g.idx) / 1000.0)
     FROM demo_group g ORDER BY g.idx`,
    [baseMs],
  );
  await client.query(
    `INSERT INTO roles (id, group_id, name, position, permissions, is_default)
     SELECT pg_temp.gdemo_id($1::bigint + g.idx, $2, (g.idx::bigint << 40) | 1), g.id, '@everyone', 0, $3, true FROM demo_group g`,
    [baseMs, run, DEFAULT_EVERYONE_PERMISSIONS],
  );
  const roles = await client.query(
    `INSERT INTO roles (id, group_id, name, color, position, permissions)
     SELECT pg_temp.gdemo_id($1::bigint + g.idx, $2, (g.idx::bigint << 40) | (1 << 20) | r), g.id, 'role ' || r,
            '#' || lpad(to_hex((r * 2654435) % 16777216), 6, '0'), r,
            CASE WHEN r > g.roles - 2 THEN $3::bigint ELSE 0 END
     FROM demo_group g CROSS JOIN LATERAL generate_series(1, g.roles) AS r`,
    [baseMs, run, MOD],
  );
  // Members, in join order. The count trigger would update the group row once per member,
  // and one statement updating a row n times is quadratic in n (each update looks past the
  // versions before it): for 10 000-member groups, minutes. So, in one transaction, the
  // trigger is off for this insert only and the counts are set from the plan (exactly the
  // rows inserted); a failure rolls it all back, trigger included. The ALTER locks
  // group_members for those seconds: a demo tool, not a live migration.
  await client.query('BEGIN');
  let memberRows = 0;
  try {
    await client.query('ALTER TABLE group_members DISABLE TRIGGER group_members_count_trigger');
    const inserted = await client.query(
      `INSERT INTO group_members (id, group_id, user_id, joined_at, inserted_at, updated_at)
       SELECT pg_temp.gdemo_id($1::bigint + g.idx + k, $2, (g.idx::bigint << 40) | (2 << 20) | k), g.id, ${userOf('k')},
              to_timestamp(($1::bigint + g.idx + k) / 1000.0), to_timestamp(($1::bigint + g.idx + k) / 1000.0), to_timestamp(($1::bigint + g.idx + k) / 1000.0)
       FROM demo_group g CROSS JOIN LATERAL generate_series(0, g.members - 1) AS k`,
      [baseMs, run],
    );
    memberRows = inserted.rowCount ?? 0;
    await client.query('UPDATE groups AS g SET member_count = g.member_count + d.members FROM demo_group AS d WHERE g.id = d.id');
    await client.query('ALTER TABLE group_members ENABLE TRIGGER group_members_count_trigger');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  // Three in four members hold a role (one in ten a second); moderators are few, the owner needs none.
  await client.query(
    `INSERT INTO group_member_roles (group_id, group_member_id, role_id)
     SELECT DISTINCT g.id, pg_temp.gdemo_id($1::bigint + g.idx + k, $2, (g.idx::bigint << 40) | (2 << 20) | k),
            pg_temp.gdemo_id($1::bigint + g.idx, $2, (g.idx::bigint << 40) | (1 << 20) | r)
     FROM demo_group g CROSS JOIN LATERAL generate_series(1, g.members - 1) AS k
     CROSS JOIN LATERAL (VALUES (1 + (k * 7) % greatest(1, g.roles - 2)), (CASE WHEN k % 10 = 0 THEN 1 + (k * 13) % g.roles END)) AS v(r)
     WHERE k % 4 <> 0 AND v.r IS NOT NULL`,
    [baseMs, run],
  );

  await client.query(`
    CREATE TEMP TABLE demo_channel (idx int PRIMARY KEY, id uuid NOT NULL, group_idx int NOT NULL, pos int NOT NULL,
      msgs int NOT NULL, start_ms bigint NOT NULL, step_ms bigint NOT NULL) ON COMMIT PRESERVE ROWS`);
  const spanMs = 29 * 24 * 3600 * 1000;
  for (let from = 0; from < plan.channels.length; from += 20_000) {
    const chunk = plan.channels.slice(from, from + 20_000);
    await client.query(
      `INSERT INTO demo_channel
       SELECT c.idx, pg_temp.gdemo_id($1::bigint + c.idx, $2, (c.idx::bigint << 40) | (3 << 20)), c.group_idx, c.pos, c.msgs,
              $1::bigint + 3600000 + c.idx, greatest(1, $3::bigint / greatest(c.msgs, 1))
       FROM unnest($4::int[], $5::int[], $6::int[], $7::int[]) AS c(idx, group_idx, pos, msgs)`,
      [baseMs, run, spanMs, chunk.map((c) => c.idx), chunk.map((c) => c.group), chunk.map((c) => c.pos), chunk.map((c) => c.msgs)],
    );
  }
  await client.query('ANALYZE demo_group, demo_channel, demo_gusers');
  const lastAt = `CASE WHEN c.msgs > 0 THEN to_timestamp((c.start_ms + (c.msgs - 1) * c.step_ms) / 1000.0) END`;
  // One category per ten channels; every fifth channel private, the second an announcement channel.
  await client.query(
    `INSERT INTO channel_categories (id, group_id, name, position)
     SELECT pg_temp.gdemo_id($1::bigint + g.idx, $2, (g.idx::bigint << 40) | (4 << 20) | k), g.id, 'Category ' || (k + 1), k
     FROM demo_group g CROSS JOIN LATERAL generate_series(0, (g.channels - 1) / 10) AS k`,
    [baseMs, run],
  );
  await client.query(
    `INSERT INTO channels (id, group_id, category_id, name, type, topic, position, is_private, last_message_seq, last_message_at, inserted_at, updated_at)
     SELECT c.id, g.id, pg_temp.gdemo_id($1::bigint + g.idx, $2, (g.idx::bigint << 40) | (4 << 20) | ((c.pos - 1) / 10)),
            CASE WHEN c.pos = 1 THEN 'general' ELSE 'channel-' || c.pos END,
            CASE WHEN c.pos = 2 THEN 'announcement' WHEN c.pos % 7 = 0 THEN 'voice' ELSE 'text' END,
            'Topic of channel ' || c.pos, c.pos - 1, c.pos % 5 = 0, c.msgs, ${lastAt},
            to_timestamp(c.start_ms / 1000.0), to_timestamp(c.start_ms / 1000.0)
     FROM demo_channel c JOIN demo_group g ON g.idx = c.group_idx ORDER BY c.idx`,
    [baseMs, run],
  );
  // Private channels open to the top third of roles; some public channels mute a role.
  await client.query(
    `INSERT INTO channel_permission_overwrites (group_id, channel_id, role_id, allow, deny)
     SELECT g.id, c.id, pg_temp.gdemo_id($1::bigint + g.idx, $2, (g.idx::bigint << 40) | (1 << 20) | r),
            CASE WHEN c.pos % 5 = 0 THEN $3::bigint ELSE 0 END,
            CASE WHEN c.pos % 5 = 0 THEN 0 ELSE $4::bigint END
     FROM demo_channel c JOIN demo_group g ON g.idx = c.group_idx
     CROSS JOIN LATERAL generate_series(1, g.roles) AS r
     WHERE (c.pos % 5 = 0 AND r > g.roles * 2 / 3) OR (c.pos % 5 <> 0 AND (c.pos + r) % 9 = 0)`,
    [baseMs, run, P.VIEW_CHANNEL, P.SEND_MESSAGES],
  );

  // Messages: the sender is the channel's k-th member for a k that drifts every few messages.
  const batches: Array<{ from: number; to: number; seqFrom: number; seqTo: number }> = [];
  let open: { from: number; to: number; seqFrom: number; seqTo: number; rows: number } | undefined;
  for (const c of plan.channels) {
    if (c.msgs > 200_000) {
      for (let s = 1; s <= c.msgs; s += 200_000) batches.push({ from: c.idx, to: c.idx, seqFrom: s, seqTo: Math.min(c.msgs, s + 199_999) });
      continue;
    }
    if (!open || open.rows + c.msgs > 200_000) {
      open = { from: c.idx, to: c.idx, seqFrom: 1, seqTo: 2 ** 31 - 1, rows: 0 };
      batches.push(open);
    }
    open.to = c.idx;
    open.rows += c.msgs;
  }
  for (const b of batches) {
    await client.query(
      `INSERT INTO channel_messages (id, channel_id, sender_id, content, type, seq, inserted_at, updated_at)
       SELECT pg_temp.gdemo_id(c.start_ms + (s - 1) * c.step_ms, $5, (c.idx::bigint << 30) | s), c.id,
              ${userOf('((s / 4) * 7 + c.idx) % g.members')},
              ($6::text[])[1 + (s * 31 + c.idx) % cardinality($6::text[])], 'text', s,
              to_timestamp((c.start_ms + (s - 1) * c.step_ms) / 1000.0), to_timestamp((c.start_ms + (s - 1) * c.step_ms) / 1000.0)
       FROM demo_channel c JOIN demo_group g ON g.idx = c.group_idx
       CROSS JOIN LATERAL generate_series(greatest($3::int, 1), least($4::int, c.msgs)) AS s
       WHERE c.idx BETWEEN $1 AND $2`,
      [b.from, b.to, b.seqFrom, b.seqTo, run, PHRASES],
    );
  }
  // Every fifth member has read the busy channels, most of them some way behind.
  await client.query(
    `INSERT INTO channel_read_states (channel_id, user_id, last_read_seq, last_read_at)
     SELECT c.id, ${userOf('k')}, greatest(0, c.msgs - (k * 37) % 200), now()
     FROM demo_channel c JOIN demo_group g ON g.idx = c.group_idx
     CROSS JOIN LATERAL generate_series(0, g.members - 1, 5) AS k
     WHERE c.msgs > 0 AND c.pos <= 5`,
  );
  await client.query('ANALYZE groups, group_members, roles, group_member_roles, channels, channel_permission_overwrites, channel_messages, channel_read_states');
  await client.query('DROP TABLE demo_channel, demo_group, demo_gusers');
  return {
    groups: plan.groups.length,
    members: memberRows,
    roles: (roles.rowCount ?? 0) + plan.groups.length,
    channels: plan.channels.length,
    channelMessages: plan.channels.reduce((n, c) => n + c.msgs, 0),
    largestGroupMembers: Math.max(...plan.groups.map((g) => g.members)),
    ms: performance.now() - started,
  };
}
