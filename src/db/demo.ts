// `cgraph db demo [--scale N]`: demo data with realistic skew — users, friendships, 1:1 and
// group DMs, messages — at scale 1 = 10 million messages. The shape (who talks to whom, how
// many messages each conversation gets, when) is planned here in a few small arrays; the
// rows themselves are produced by set-based `INSERT … SELECT generate_series` statements on
// the server, so nothing row-sized crosses the wire. Every counter the app keeps is written
// consistent with the rows: conversations.last_message_seq / last_message_at, participants'
// last_read_seq (never behind their own last message) and last_activity_at.
//
// Ids are UUIDv7 computed from each row's time, so ids sort as the app's would (history
// order = seq order), and conversations are numbered in id order so that a batch of them
// appends to the (conversation_id, …) indexes instead of scattering across them.
import type pg from 'pg';
import { hashPassword } from '../modules/accounts/password.ts';

/** Rows at scale 1. */
export const DEMO_BASE = {
  messages: 10_000_000,
  users: 100_000,
  dms: 150_000,
  groups: 8_000,
} as const;

/** The demo users' password (they are for trying the API, not for production). */
export const DEMO_PASSWORD = 'demo password';
/** The busiest user: in (up to) this many conversations, for the conversation-list benchmark. */
export const POWER_USER_CONVERSATIONS = 500;

export interface DemoSize {
  users: number;
  dms: number;
  groups: number;
  messages: number;
}

export function demoSize(scale: number): DemoSize {
  if (!(scale > 0) || scale > 10) throw new RangeError('scale must be a number above 0 and at most 10');
  return {
    users: Math.max(20, Math.round(DEMO_BASE.users * scale)),
    dms: Math.max(10, Math.round(DEMO_BASE.dms * scale)),
    groups: Math.max(3, Math.round(DEMO_BASE.groups * scale)),
    messages: Math.max(100, Math.round(DEMO_BASE.messages * scale)),
  };
}

// -- the plan ----------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a run is reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws 1..n with P(k) ∝ 1/k^s (a few very popular users, a long tail). */
function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) cumulative[k - 1] = total += 1 / k ** s;
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

export interface PlannedConversation {
  isGroup: boolean;
  /** User numbers (1..users); a group's first member owns it. */
  members: number[];
  messages: number;
  createdMs: number;
  /** Time of message 1, and the step between messages (jitter stays below half a step). */
  startMs: number;
  stepMs: number;
}

export interface DemoPlan {
  size: DemoSize;
  /** Distinguishes this run's rows (usernames, id bits) from earlier runs'. */
  run: number;
  tag: string;
  usersBaseMs: number;
  /** In creation (= id) order. */
  conversations: PlannedConversation[];
}

const DAY = 86_400_000;

export function planDemo(scale: number, seed = Date.now() % 2 ** 31, now = Date.now()): DemoPlan {
  const size = demoSize(scale);
  const random = prng(seed);
  const popularUser = zipfSampler(size.users, 0.8, random);
  const conversations: Array<Omit<PlannedConversation, 'messages' | 'createdMs' | 'startMs' | 'stepMs'>> = [];

  // 1:1 DMs: the power user (user 1) with many others, then pairs of (skewed) popular users.
  const pairs = new Set<string>();
  const addPair = (a: number, b: number) => {
    if (a === b) return false;
    const key = a < b ? `${a}:${b}` : `${b}:${a}`;
    if (pairs.has(key)) return false;
    pairs.add(key);
    conversations.push({ isGroup: false, members: [a, b] });
    return true;
  };
  const powerDms = Math.min(POWER_USER_CONVERSATIONS - Math.min(size.groups, 20), Math.floor(size.dms / 3), size.users - 1);
  for (let other = 2; conversations.length < powerDms; other++) addPair(1, other);
  const maxPairs = (size.users * (size.users - 1)) / 2;
  // Others never draw user 1, so the power user is in exactly the planned conversations.
  const other = () => 2 + Math.floor(random() * (size.users - 1));
  const popularOther = () => {
    const u = popularUser();
    return u === 1 ? other() : u;
  };
  for (let tries = 0; conversations.length < size.dms && pairs.size < maxPairs && tries < size.dms * 20; tries++) {
    addPair(popularOther(), other());
  }
  // Group DMs: mostly small (3–5), some up to 25; the power user is in the first few.
  for (let g = 0; g < size.groups; g++) {
    const want = Math.min(size.users - 1, 3 + Math.floor(random() ** 3 * 22));
    const members = new Set<number>(g < 20 ? [1] : []);
    while (members.size < want) members.add(random() < 0.5 ? popularOther() : other());
    conversations.push({ isGroup: true, members: [...members] });
  }

  // Messages per conversation: Zipf(1) over a random ranking, so a few conversations are
  // huge (the top one holds ~8 % of all messages at scale 1) and most have a handful.
  const n = conversations.length;
  const rank = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rank[i], rank[j]] = [rank[j]!, rank[i]!];
  }
  let harmonic = 0;
  for (let r = 1; r <= n; r++) harmonic += 1 / r;
  const counts = new Array<number>(n);
  let assigned = 0;
  for (let i = 0; i < n; i++) assigned += counts[i] = Math.floor(size.messages / ((rank[i]! + 1) * harmonic));
  // The rounding remainder goes to the top-ranked conversations, so the total is exact.
  const byRank = [...rank.keys()].sort((a, b) => rank[a]! - rank[b]!);
  for (let k = 0; assigned < size.messages; k = (k + 1) % n, assigned++) counts[byRank[k]!]! += 1;

  // Times: the last message a recency ago (most conversations active lately), messages a
  // few minutes to an hour apart, never earlier than a year ago.
  const yearAgo = now - 365 * DAY;
  const timed = conversations.map((c, i) => {
    const messages = counts[i]!;
    const endMs = now - Math.floor(Math.min(300 * DAY, -Math.log(1 - random()) * 20 * DAY)) - 60_000;
    const gap = 60_000 * (2 + Math.floor(random() * 58));
    const startMs = messages > 1 ? Math.max(yearAgo, endMs - gap * (messages - 1)) : endMs;
    const stepMs = messages > 1 ? Math.max(0, Math.floor((endMs - startMs) / (messages - 1))) : 0;
    return { ...c, messages, startMs, stepMs, createdMs: startMs - 60_000 - Math.floor(random() * DAY) };
  });
  timed.sort((a, b) => a.createdMs - b.createdMs);
  const run = Math.floor(random() * 2 ** 18);
  return {
    size,
    run,
    tag: run.toString(36).padStart(4, '0'),
    usersBaseMs: yearAgo - 30 * DAY,
    conversations: timed,
  };
}

// -- the writer --------------------------------------------------------------------------

export interface DemoProgress {
  /** Rows written so far and the total expected (users + conversations + participants + messages). */
  (done: number, total: number, phase: string): void;
}

export interface DemoResult {
  tag: string;
  users: number;
  conversations: number;
  participants: number;
  friendships: number;
  messages: number;
  /** reaction rows (about 1 message in 10 carries 1–3, from distinct participants) */
  reactions: number;
  powerUser: string;
  ms: number;
}

const EMOJI = ['👍', '❤️', '😂', '🔥', '🎉', ':party_parrot:'];

const PHRASES = [
  'hey!', 'ok', 'sounds good', 'on my way', 'did you see the game last night?', 'lol',
  'can you send me the file?', 'thanks 🙏', 'what time works for you?', 'brb',
  'I pushed the fix, can you review?', 'haha yes', 'let me check and get back to you',
  'meeting moved to 3pm', 'nice 🎉', 'where are we having lunch?', 'agreed',
  'that was a long day', 'good morning ☀️', 'see you tomorrow', 'who is bringing snacks?',
  'the build is green again', 'typo in the README, fixing', 'coffee?', 'yes please',
  'no worries', 'I will be 10 minutes late', 'check the doc I shared',
  'anyone up for a game tonight?', 'happy birthday!! 🎂',
];
const FIRST = ['Ada', 'Ben', 'Cleo', 'Dan', 'Eve', 'Finn', 'Gia', 'Hugo', 'Iris', 'Jon', 'Kai', 'Lea', 'Max', 'Nia', 'Oto', 'Pia'];
const LAST = ['Smith', 'Khan', 'Garcia', 'Müller', 'Rossi', 'Novak', 'Silva', 'Kim', 'Dubois', 'Sato', 'Okafor', 'Berg'];

/** ~200 000 rows per statement: long enough to amortise, short enough for a live progress bar. */
const ROWS_PER_BATCH = 200_000;

export interface MessageBatch {
  /** Conversation numbers (1-based, inclusive). */
  from: number;
  to: number;
  /** Seq range within each of them (inclusive; clipped to each conversation's count). */
  seqFrom: number;
  seqTo: number;
  rows: number;
}

/**
 * Batches of whole small conversations, or slices of one big conversation, about
 * `rowsPerBatch` rows each; together they cover every (conversation, seq) exactly once.
 */
export function messageBatches(counts: readonly number[], rowsPerBatch: number): MessageBatch[] {
  const batches: MessageBatch[] = [];
  let open: MessageBatch | undefined;
  counts.forEach((count, i) => {
    const idx = i + 1;
    if (count > rowsPerBatch) {
      for (let s = 1; s <= count; s += rowsPerBatch) {
        const seqTo = Math.min(count, s + rowsPerBatch - 1);
        batches.push({ from: idx, to: idx, seqFrom: s, seqTo, rows: seqTo - s + 1 });
      }
      open = undefined; // the next small conversations start a new range after this one
      return;
    }
    if (!open || open.rows + count > rowsPerBatch) batches.push((open = { from: idx, to: idx, seqFrom: 1, seqTo: 2 ** 31 - 1, rows: 0 }));
    open.to = idx;
    open.rows += count;
  });
  return batches.filter((b) => b.rows > 0);
}

/**
 * Writes the plan through one connection. Helper functions and the plan's staging table
 * are session-temporary (pg_temp), so a crash leaves nothing but the rows already written.
 */
export async function writeDemo(client: pg.ClientBase, plan: DemoPlan, progress: DemoProgress = () => {}): Promise<DemoResult> {
  const started = performance.now();
  const { size, run, tag } = plan;
  const convs = plan.conversations;
  const participantsTotal = convs.reduce((n, c) => n + c.members.length, 0);
  const total = size.users + convs.length + participantsTotal + size.messages;
  let done = 0;
  const step = (rows: number, phase: string) => progress((done += rows), total, phase);
  progress(0, total, 'users');

  // demo_id(ms, hi, lo): a UUIDv7 with time `ms`, 12 bits `hi` and 62 bits `lo` — unique
  // by construction (run number, row number and seq are packed into hi/lo).
  await client.query(`
    CREATE FUNCTION pg_temp.demo_id(ms bigint, hi bigint, lo bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
      SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(hi & 4095), 3, '0')
              || to_hex((-9223372036854775807 - 1) | (lo & 4611686018427387903)))::uuid
    $$`);
  await client.query(`
    CREATE FUNCTION pg_temp.demo_user(n bigint, base bigint, run bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
      SELECT pg_temp.demo_id(base + n * 1000, 0, (n << 18) | run)
    $$`);
  // Message s of a conversation: its time (jitter below half a step keeps it increasing) and id.
  await client.query(`
    CREATE FUNCTION pg_temp.demo_ts(start_ms bigint, step_ms bigint, s bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
      SELECT start_ms + (s - 1) * step_ms + ((s * 7919) % 1000) * step_ms / 2000
    $$`);
  await client.query(`
    CREATE FUNCTION pg_temp.demo_msg(start_ms bigint, step_ms bigint, idx bigint, s bigint, run bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
      SELECT pg_temp.demo_id(pg_temp.demo_ts(start_ms, step_ms, s), s >> 20, ((s & 1048575) << 42) | (idx << 18) | run)
    $$`);
  await client.query(`
    CREATE TEMP TABLE demo_conv (
      idx int PRIMARY KEY, id uuid NOT NULL, is_group boolean NOT NULL, members int[] NOT NULL,
      msgs int NOT NULL, created_ms bigint NOT NULL, start_ms bigint NOT NULL, step_ms bigint NOT NULL
    ) ON COMMIT PRESERVE ROWS`);

  // -- users ------------------------------------------------------------------------------
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const userBatch = 50_000;
  for (let from = 1; from <= size.users; from += userBatch) {
    const to = Math.min(size.users, from + userBatch - 1);
    await client.query(
      `INSERT INTO users (id, username, email, password_hash, display_name, status, inserted_at, updated_at)
       SELECT pg_temp.demo_user(g, $3, $4), 'demo' || $5 || '_' || g, 'demo' || $5 || '_' || g || '@demo.invalid', $6,
              ($7::text[])[1 + g % cardinality($7::text[])] || ' ' || ($8::text[])[1 + (g / 7) % cardinality($8::text[])],
              'offline', to_timestamp(($3 + g * 1000) / 1000.0), to_timestamp(($3 + g * 1000) / 1000.0)
       FROM generate_series($1::bigint, $2::bigint) AS g`,
      [from, to, plan.usersBaseMs, run, tag, passwordHash, FIRST, LAST],
    );
    step(to - from + 1, 'users');
  }

  // -- the plan, staged -------------------------------------------------------------------
  for (let from = 0; from < convs.length; from += 20_000) {
    const chunk = convs.slice(from, from + 20_000);
    await client.query(
      `INSERT INTO demo_conv (idx, id, is_group, members, msgs, created_ms, start_ms, step_ms)
       SELECT idx, pg_temp.demo_id(created_ms, 0, (idx::bigint << 18) | $1), is_group,
              (SELECT array_agg(x::int) FROM jsonb_array_elements_text(members) AS x), msgs, created_ms, start_ms, step_ms
       FROM unnest($2::int[], $3::boolean[], $4::jsonb[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[])
         AS t(idx, is_group, members, msgs, created_ms, start_ms, step_ms)`,
      [
        run,
        chunk.map((_, i) => from + i + 1),
        chunk.map((c) => c.isGroup),
        chunk.map((c) => JSON.stringify(c.members)),
        chunk.map((c) => c.messages),
        chunk.map((c) => c.createdMs),
        chunk.map((c) => c.startMs),
        chunk.map((c) => c.stepMs),
      ],
    );
  }
  await client.query('ANALYZE demo_conv');

  // -- conversations, participants, friendships -----------------------------------------
  // Counters are written final: last_message_seq = message count, last_message_at = the
  // time of the last one (messages below are generated to match exactly).
  const userArgs = [plan.usersBaseMs, run];
  const lastAt = `CASE WHEN c.msgs > 0 THEN to_timestamp(pg_temp.demo_ts(c.start_ms, c.step_ms, c.msgs) / 1000.0) END`;
  await client.query(
    `INSERT INTO conversations (id, is_group, name, owner_id, dm_user_low_id, dm_user_high_id, last_message_seq, last_message_at, inserted_at, updated_at)
     SELECT c.id, c.is_group,
            CASE WHEN c.is_group THEN 'Group ' || c.idx END,
            CASE WHEN c.is_group THEN pg_temp.demo_user(c.members[1], $1, $2) END,
            CASE WHEN NOT c.is_group THEN least(pg_temp.demo_user(c.members[1], $1, $2), pg_temp.demo_user(c.members[2], $1, $2)) END,
            CASE WHEN NOT c.is_group THEN greatest(pg_temp.demo_user(c.members[1], $1, $2), pg_temp.demo_user(c.members[2], $1, $2)) END,
            c.msgs, ${lastAt}, to_timestamp(c.created_ms / 1000.0), to_timestamp(c.created_ms / 1000.0)
     FROM demo_conv AS c ORDER BY c.idx`,
    userArgs,
  );
  step(convs.length, 'conversations');
  // Read positions: most participants are caught up; a third lag by a skewed number of
  // messages. Own messages are fixed up after the messages exist (never unread).
  await client.query(
    `INSERT INTO conversation_participants (id, conversation_id, user_id, joined_at, last_read_at, muted, last_read_seq, last_activity_at, inserted_at, updated_at)
     SELECT pg_temp.demo_id(c.created_ms, m.pos, (c.idx::bigint << 18) | $2), c.id, pg_temp.demo_user(m.member, $1, $2),
            to_timestamp(c.created_ms / 1000.0),
            CASE WHEN c.msgs > 0 THEN ${lastAt} END,
            (c.idx + m.pos) % 20 = 0,
            CASE WHEN (c.idx * 7 + m.pos) % 3 = 0 THEN greatest(0, c.msgs - ((c.idx * 31 + m.pos * 17) % 97) * ((c.idx + m.pos) % 4 + 1)) ELSE c.msgs END,
            coalesce(${lastAt}, to_timestamp(c.created_ms / 1000.0)),
            to_timestamp(c.created_ms / 1000.0), to_timestamp(c.created_ms / 1000.0)
     FROM demo_conv AS c CROSS JOIN LATERAL unnest(c.members) WITH ORDINALITY AS m(member, pos)`,
    userArgs,
  );
  step(participantsTotal, 'participants');
  // Most 1:1 DM partners are friends; some requests are still pending.
  const friendships = await client.query(
    `INSERT INTO friendships (user_id, friend_id, status, requested_at, accepted_at, inserted_at, updated_at)
     SELECT pg_temp.demo_user(c.members[1], $1, $2), pg_temp.demo_user(c.members[2], $1, $2),
            CASE WHEN c.idx % 10 = 0 THEN 'pending' ELSE 'accepted' END,
            to_timestamp(c.created_ms / 1000.0 - 86400),
            CASE WHEN c.idx % 10 <> 0 THEN to_timestamp(c.created_ms / 1000.0 - 3600) END,
            to_timestamp(c.created_ms / 1000.0 - 86400), to_timestamp(c.created_ms / 1000.0 - 86400)
     FROM demo_conv AS c WHERE NOT c.is_group AND c.idx % 10 < 7
     ON CONFLICT DO NOTHING`,
    userArgs,
  );

  // -- messages ---------------------------------------------------------------------------
  // The rows reference only users and conversations written above (and replies the same
  // conversation), so the per-row foreign-key triggers would only re-prove what the
  // generator guarantees (demo.test.ts checks it): skip them when allowed, as pg_restore
  // --disable-triggers does. `replica` needs superuser (the embedded server's role); without
  // it the checks simply run.
  const fastLoad = await client
    .query(`SET session_replication_role = replica`)
    .then(() => true, () => false);
  const batches = messageBatches(convs.map((c) => c.messages), ROWS_PER_BATCH);
  let reactions = 0;
  for (const b of batches) {
    // The sender is a participant picked per message (runs of a few from the same person);
    // about 1 in 29 messages replies to one of the three before it.
    await client.query(
      `INSERT INTO messages (id, conversation_id, sender_id, content, type, reply_to_id, seq, inserted_at, updated_at)
       SELECT pg_temp.demo_msg(c.start_ms, c.step_ms, c.idx, s, $5), c.id,
              pg_temp.demo_user(c.members[1 + ((s / 3) * 7 + (s / 11) + c.idx) % cardinality(c.members)], $4, $5),
              ($6::text[])[1 + (s * 31 + c.idx * 17) % cardinality($6::text[])], 'text',
              CASE WHEN s > 3 AND (s * 13 + c.idx) % 29 = 0 THEN pg_temp.demo_msg(c.start_ms, c.step_ms, c.idx, s - 1 - s % 3, $5) END,
              s, to_timestamp(pg_temp.demo_ts(c.start_ms, c.step_ms, s) / 1000.0), to_timestamp(pg_temp.demo_ts(c.start_ms, c.step_ms, s) / 1000.0)
       FROM demo_conv AS c CROSS JOIN LATERAL generate_series(greatest($3::int, 1), least($7::int, c.msgs)) AS s
       WHERE c.idx BETWEEN $1 AND $2`,
      [b.from, b.to, b.seqFrom, plan.usersBaseMs, run, PHRASES, b.seqTo],
    );
    // About 1 message in 10 gets reactions from 1–3 distinct participants (ids computed
    // the same way as the messages', so the batch is not read back).
    const reacted = await client.query(
      `INSERT INTO reactions (message_id, user_id, emoji, inserted_at)
       SELECT pg_temp.demo_msg(c.start_ms, c.step_ms, c.idx, s, $5),
              pg_temp.demo_user(c.members[1 + (s + k) % cardinality(c.members)], $4, $5),
              ($6::text[])[1 + (s + k * 2) % cardinality($6::text[])],
              to_timestamp(pg_temp.demo_ts(c.start_ms, c.step_ms, s) / 1000.0 + 60 * (k + 1))
       FROM demo_conv AS c CROSS JOIN LATERAL generate_series(greatest($3::int, 1), least($7::int, c.msgs)) AS s
         CROSS JOIN LATERAL generate_series(0, least(2, cardinality(c.members) - 1, (s * 5 + c.idx) % 3)) AS k
       WHERE c.idx BETWEEN $1 AND $2 AND (s * 7 + c.idx) % 10 = 0`,
      [b.from, b.to, b.seqFrom, plan.usersBaseMs, run, EMOJI, b.seqTo],
    );
    reactions += reacted.rowCount ?? 0;
    step(b.rows, 'messages');
  }

  if (fastLoad) await client.query(`SET session_replication_role = DEFAULT`);

  // A participant has read at least up to their own last message (the app's send does the
  // same). Only lagging participants can be behind, so only their unread ranges are read.
  await client.query(
    `UPDATE conversation_participants AS p SET last_read_seq = own.seq
     FROM (
       SELECT p.id, max(m.seq) AS seq
       FROM demo_conv AS c
       JOIN conversation_participants AS p ON p.conversation_id = c.id AND p.last_read_seq < c.msgs
       JOIN messages AS m ON m.conversation_id = c.id AND m.seq > p.last_read_seq AND m.sender_id = p.user_id
       GROUP BY p.id
     ) AS own
     WHERE p.id = own.id`,
  );
  await client.query('ANALYZE users, conversations, conversation_participants, friendships, messages, reactions');
  await client.query('DROP TABLE demo_conv');
  progress(total, total, 'done');
  return {
    tag,
    users: size.users,
    conversations: convs.length,
    participants: participantsTotal,
    friendships: friendships.rowCount ?? 0,
    messages: size.messages,
    reactions,
    powerUser: `demo${tag}_1`,
    ms: performance.now() - started,
  };
}
