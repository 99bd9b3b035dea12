// Demo forums for `cgraph db demo` (after the users exist): forums, moderators, members of
// the private ones, flairs, posts of the four types with polls, votes, and comment trees,
// shaped by demo-plan.ts. As in src/db/demo.ts the rows are produced on the server by
// set-based `INSERT … SELECT generate_series` statements; only the plan's small per-post
// numbers cross the wire.
//
// Counters. The row triggers (scores and up/down counts from votes, comment_count, poll
// option counts) would update a post once per vote: a statement touching one row thousands
// of times is quadratic, and 10 million trigger calls take long anyway. So the bulk load is
// ONE transaction with those triggers disabled (re-enabled before COMMIT; a failure rolls
// everything back, the ALTERs included), and every counter is written with its row from the
// same numbers the rows are generated from: a post with v votes of which d are down has
// upvotes v - d, downvotes d, score v - 2d, and its votes are exactly v rows, the last d of
// them -1; hot is cgraph_hot(score, inserted_at), the function the BEFORE trigger calls;
// comment_count counts the comments not deleted; an option's vote_count counts the voters
// that pick it. demo.test.ts recomputes every counter from the rows.
import type pg from 'pg';
import { planForumsDemo, postBatches, type ForumsDemoPlan, type ForumsDemoSize } from './demo-plan.ts';

export { forumsDemoSize, planForumsDemo } from './demo-plan.ts';

export interface ForumsDemoProgress {
  (done: number, total: number, phase: string): void;
}

export interface ForumsDemoResult {
  tag: string;
  forums: number;
  posts: number;
  postVotes: number;
  comments: number;
  commentVotes: number;
  pollVotes: number;
  largestThread: number;
  mostVotes: number;
  ms: number;
}

const TOPICS = ['gaming', 'programming', 'music', 'science', 'movies', 'books', 'cooking', 'travel', 'fitness', 'photography', 'space', 'history'];
const TITLES = [
  'What are you working on this week?', 'Beginner question about getting started', 'I finally finished it!',
  'Unpopular opinion', 'Weekly discussion thread', 'Does anyone else have this problem?', 'Guide: everything I learned in a year',
  'Show and tell', 'Which one would you pick?', 'News from today', 'Help needed, stuck for days', 'A small thing that made my day',
];
const BODIES = [
  'Long time lurker, first post. **Curious** what you all think.', 'Details below.\n\n- one\n- two\n- three',
  'Edit: thanks for all the answers!', 'Sources in the comments.', 'Be kind, I am new here 🙂', '',
];
const COMMENTS = [
  'This.', 'Great post, thanks for sharing', 'I disagree, and here is why…', 'Source?', 'Same here!', 'lol',
  'Came here to say this', 'Underrated comment', 'Can confirm', 'Have you tried turning it off and on again?',
  'Saving this for later', 'Username checks out', 'Best answer in the thread', 'Not sure that is right, see the docs',
];
const FLAIRS = ['Discussion', 'Question', 'News', 'Meta', 'Guide'];

const ROWS_PER_BATCH = 250_000;
/** Tables whose plain secondary indexes are rebuilt after the load instead of updated per row. */
const BULK_TABLES = ['forum_posts', 'forum_comments', 'forum_votes', 'comment_votes', 'poll_votes'];
const COUNT_TRIGGERS = [
  ['forum_votes', 'forum_votes_score_trigger'],
  ['comment_votes', 'comment_votes_score_trigger'],
  ['forum_comments', 'forum_comments_count_trigger'],
  ['poll_votes', 'poll_votes_count_trigger'],
] as const;

/** Writes the forums demo through one connection (the caller's users must exist). */
export async function writeForumsDemo(
  client: pg.ClientBase,
  scale: number,
  progress: ForumsDemoProgress = () => {},
  overrides: Partial<ForumsDemoSize> = {},
): Promise<ForumsDemoResult> {
  const started = performance.now();
  await client.query(`CREATE TEMP TABLE demo_fusers ON COMMIT PRESERVE ROWS AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM users`);
  await client.query('ALTER TABLE demo_fusers ADD PRIMARY KEY (n)');
  const users = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM demo_fusers')).rows[0]!.n);
  const plan = planForumsDemo(scale, users, overrides);
  try {
    return await write(client, plan, progress, started);
  } finally {
    await client.query('DROP TABLE IF EXISTS demo_fusers, demo_forum, demo_fpost');
  }
}

async function write(client: pg.ClientBase, plan: ForumsDemoPlan, progress: ForumsDemoProgress, started: number): Promise<ForumsDemoResult> {
  const { run, users, forums, post, nowMs } = plan;
  const n = post.forum.length;
  const sum = (a: Int32Array) => a.reduce((s, x) => s + x, 0);
  const postVotes = sum(post.votes);
  const comments = sum(post.comments);
  let total = n + postVotes + comments;
  let done = 0;
  const step = (rows: number, phase: string) => progress((done += rows), total, phase);
  progress(0, total, 'forums');

  // A UUIDv7 at time `ms` whose other bits are `run` and `lo` (a kind in the top bits, then
  // row numbers): unique by construction and ordered by time, as the app's ids are.
  await client.query(`
    CREATE OR REPLACE FUNCTION pg_temp.fdemo_id(ms bigint, run bigint, lo bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
      SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(run & 4095), 3, '0')
              || to_hex((-9223372036854775807 - 1) | (lo & 4611686018427387903)))::uuid
    $$`);
  // User number n (1-based, wrapping) as a user id, for the small statements; the big ones
  // join demo_fusers instead (a hash join, where a function call per row would cost more
  // than the row: a SQL function reading a table is not inlined).
  await client.query(`
    CREATE OR REPLACE FUNCTION pg_temp.fdemo_user(n bigint) RETURNS uuid LANGUAGE sql STABLE AS $$
      SELECT id FROM demo_fusers WHERE demo_fusers.n = 1 + ($1 - 1) % ${users}
    $$`);
  await client.query(`
    CREATE TEMP TABLE demo_forum (idx int PRIMARY KEY, id uuid NOT NULL, is_public boolean NOT NULL, first_user int NOT NULL,
      moderators int NOT NULL, members int NOT NULL, community int NOT NULL, authors int NOT NULL, flairs int NOT NULL,
      ms bigint NOT NULL, posts int NOT NULL) ON COMMIT PRESERVE ROWS`);
  await client.query(
    `INSERT INTO demo_forum
     SELECT f.idx, pg_temp.fdemo_id(f.ms, $1, (1::bigint << 58) | f.idx), f.is_public, f.first_user, f.moderators, f.members,
            f.community, f.authors, f.flairs, f.ms, f.posts
     FROM unnest($2::int[], $3::boolean[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[], $10::bigint[], $11::int[])
       AS f(idx, is_public, first_user, moderators, members, community, authors, flairs, ms, posts)`,
    [run, ...(['idx', 'isPublic', 'firstUser', 'moderators', 'members', 'community', 'authors', 'flairs', 'createdMs', 'posts'] as const).map((k) => forums.map((f) => f[k]))],
  );
  // Per post: its number, id, forum, time; votes v (d of them down) and comments c; the
  // steps between its votes and between its comments, which all fall between it and now.
  await client.query(`
    CREATE TEMP TABLE demo_fpost (idx int PRIMARY KEY, id uuid NOT NULL, forum int NOT NULL, ms bigint NOT NULL,
      v int NOT NULL, d int NOT NULL, c int NOT NULL, pinned boolean NOT NULL, vstep bigint NOT NULL, cstep bigint NOT NULL)
      ON COMMIT PRESERVE ROWS`);
  for (let from = 0; from < n; from += 100_000) {
    const to = Math.min(n, from + 100_000);
    await client.query(
      `INSERT INTO demo_fpost
       SELECT p.idx, pg_temp.fdemo_id(p.ms, $1, (3::bigint << 58) | p.idx), p.forum, p.ms, p.v, p.d, p.c, p.pinned,
              greatest(1, ($2::bigint - p.ms) / (p.v + 1)), greatest(1, least(3600000, ($2::bigint - p.ms) / (p.c + 1)))
       FROM unnest($3::int[], $4::int[], $5::bigint[], $6::int[], $7::int[], $8::int[], $9::boolean[]) AS p(idx, forum, ms, v, d, c, pinned)`,
      [
        run,
        nowMs,
        Array.from({ length: to - from }, (_, k) => from + k + 1),
        Array.from(post.forum.subarray(from, to)),
        Array.from(post.ms.subarray(from, to)),
        Array.from(post.votes.subarray(from, to)),
        Array.from(post.down.subarray(from, to)),
        Array.from(post.comments.subarray(from, to)),
        Array.from(post.pinned.subarray(from, to), (x) => x === 1),
      ],
    );
  }
  await client.query('ANALYZE demo_forum, demo_fpost, demo_fusers');

  await client.query('BEGIN');
  try {
    // Without superuser the foreign keys are checked per row as usual; with it they are
    // skipped for the load (pg_restore --disable-triggers does the same): the generator
    // only references rows it wrote, and demo.test.ts checks that.
    await client.query('SAVEPOINT replica');
    await client.query('SET LOCAL session_replication_role = replica').catch(() => client.query('ROLLBACK TO SAVEPOINT replica'));
    for (const [table, trigger] of COUNT_TRIGGERS) await client.query(`ALTER TABLE ${table} DISABLE TRIGGER ${trigger}`);
    const indexes = await client.query<{ name: string; def: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
       WHERE i.indrelid = ANY($1::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary`,
      [BULK_TABLES],
    );
    for (const index of indexes.rows) await client.query(`DROP INDEX ${index.name}`);

    const forumCount = await writeForums(client, plan);
    step(0, `${forumCount} forums`);
    await writePosts(client, plan, (rows) => step(rows, 'posts'));
    const pollVotes = await writePolls(client, plan);
    for (const b of postBatches(n, (i) => post.votes[i]!, ROWS_PER_BATCH)) {
      await client.query(
        `INSERT INTO forum_votes (post_id, user_id, value, inserted_at, updated_at)
         SELECT p.id, u.id, CASE WHEN k < p.v - p.d THEN 1 ELSE -1 END,
                to_timestamp((p.ms + (k + 1) * p.vstep) / 1000.0), to_timestamp((p.ms + (k + 1) * p.vstep) / 1000.0)
         FROM demo_fpost p JOIN demo_forum f ON f.idx = p.forum CROSS JOIN LATERAL generate_series(0, p.v - 1) AS k
         JOIN demo_fusers u ON u.n = ${userNo('f.first_user + (p.idx::bigint * 7919 + k) % f.community', users)}
         WHERE p.idx BETWEEN $1 AND $2 ORDER BY p.idx, k`,
        [b.from, b.to],
      );
      step(b.rows, 'post votes');
    }
    let commentVotes = 0;
    for (const b of postBatches(n, (i) => post.comments[i]!, ROWS_PER_BATCH / 2)) {
      const votes = await writeComments(client, plan, b.from, b.to);
      commentVotes += votes;
      total += votes;
      step(b.rows + votes, 'comments and their votes');
    }

    progress(done, total, 'indexes');
    for (const index of indexes.rows) await client.query(index.def);
    for (const [table, trigger] of COUNT_TRIGGERS) await client.query(`ALTER TABLE ${table} ENABLE TRIGGER ${trigger}`);
    await client.query('COMMIT');
    await client.query('ANALYZE forums, forum_moderators, forum_members, forum_flairs, forum_posts, poll_options, poll_votes, forum_comments, forum_votes, comment_votes');
    progress(total, total, 'done');
    return {
      tag: plan.tag,
      forums: forumCount,
      posts: n,
      postVotes,
      comments,
      commentVotes,
      pollVotes,
      largestThread: post.comments.reduce((m, x) => Math.max(m, x), 0),
      mostVotes: post.votes.reduce((m, x) => Math.max(m, x), 0),
      ms: performance.now() - started,
    };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

async function writeForums(client: pg.ClientBase, plan: ForumsDemoPlan): Promise<number> {
  const { run, tag } = plan;
  const forums = await client.query(
    `INSERT INTO forums (id, name, slug, description, is_public, owner_id, inserted_at, updated_at)
     SELECT f.id, initcap(($2::text[])[1 + (f.idx - 1) % cardinality($2::text[])]) || ' ' || f.idx,
            'demo-' || $1 || '-' || ($2::text[])[1 + (f.idx - 1) % cardinality($2::text[])] || '-' || f.idx,
            'A demo forum with ' || f.posts || ' posts', f.is_public, pg_temp.fdemo_user(f.first_user),
            to_timestamp(f.ms / 1000.0), to_timestamp(f.ms / 1000.0)
     FROM demo_forum f ORDER BY f.idx`,
    [tag, TOPICS],
  );
  await client.query(
    `INSERT INTO forum_moderators (forum_id, user_id, added_by_id, inserted_at)
     SELECT f.id, pg_temp.fdemo_user(f.first_user + k), pg_temp.fdemo_user(f.first_user), to_timestamp(f.ms / 1000.0)
     FROM demo_forum f CROSS JOIN LATERAL generate_series(1, f.moderators) AS k`,
  );
  await client.query(
    `INSERT INTO forum_members (forum_id, user_id, inserted_at)
     SELECT f.id, pg_temp.fdemo_user(f.first_user + k), to_timestamp(f.ms / 1000.0)
     FROM demo_forum f CROSS JOIN LATERAL generate_series(0, f.members - 1) AS k WHERE NOT f.is_public`,
  );
  await client.query(
    `INSERT INTO forum_flairs (id, forum_id, name, color, inserted_at, updated_at)
     SELECT pg_temp.fdemo_id(f.ms, $1, (2::bigint << 58) | (f.idx::bigint << 8) | k), f.id, ($2::text[])[k],
            '#' || lpad(to_hex((k * 2654435 + f.idx * 40503) % 16777216), 6, '0'), to_timestamp(f.ms / 1000.0), to_timestamp(f.ms / 1000.0)
     FROM demo_forum f CROSS JOIN LATERAL generate_series(1, f.flairs) AS k`,
    [run, FLAIRS],
  );
  return forums.rowCount ?? 0;
}

/** The demo_fusers number of user number `n` (1-based, wrapping around the users). */
const userNo = (n: string, users: number) => `1 + (${n} - 1) % ${users}`;

/** The post's type and state, from its number (so polls can find theirs again). */
const POST_KIND = `
  CROSS JOIN LATERAL (SELECT CASE WHEN p.idx % 40 = 0 THEN 'poll' WHEN p.idx % 40 < 5 THEN 'link' WHEN p.idx % 40 < 8 THEN 'image' ELSE 'text' END AS type,
                             NOT p.pinned AND p.idx % 250 = 11 AS deleted, to_timestamp(p.ms / 1000.0) AS at) AS x`;

async function writePosts(client: pg.ClientBase, plan: ForumsDemoPlan, step: (rows: number) => void): Promise<void> {
  for (let from = 1; from <= plan.post.forum.length; from += ROWS_PER_BATCH) {
    const to = Math.min(plan.post.forum.length, from + ROWS_PER_BATCH - 1);
    await client.query(
      `INSERT INTO forum_posts (id, forum_id, author_id, flair_id, title, content, url, type, score, upvotes, downvotes,
                                comment_count, hot, is_pinned, is_locked, poll_closes_at, edited_at, deleted_at, inserted_at, updated_at)
       SELECT p.id, f.id, u.id,
              CASE WHEN f.flairs > 0 AND p.idx % 3 = 0 THEN pg_temp.fdemo_id(f.ms, $3, (2::bigint << 58) | (f.idx::bigint << 8) | (1 + p.idx % f.flairs)) END,
              CASE WHEN p.pinned THEN 'Welcome! Read the rules before posting' ELSE ($4::text[])[1 + (p.idx * 7) % cardinality($4::text[])] END,
              CASE WHEN x.deleted OR x.type IN ('link', 'image') THEN NULL ELSE nullif(($5::text[])[1 + (p.idx * 13) % cardinality($5::text[])], '') END,
              CASE WHEN x.deleted THEN NULL WHEN x.type = 'link' THEN 'https://example.com/articles/' || p.idx
                   WHEN x.type = 'image' THEN 'https://images.example.com/' || p.idx || '.jpg' END,
              x.type, p.v - 2 * p.d, p.v - p.d, p.d, p.c - p.c / 37, cgraph_hot(p.v - 2 * p.d, x.at),
              p.pinned, p.idx % 200 = 7,
              CASE WHEN x.type = 'poll' AND p.idx % 80 = 0 THEN x.at + interval '3 days' END,
              CASE WHEN p.idx % 30 = 5 AND NOT x.deleted THEN x.at + interval '10 minutes' END,
              CASE WHEN x.deleted THEN x.at + interval '1 minute' END,
              x.at, x.at
       FROM demo_fpost p JOIN demo_forum f ON f.idx = p.forum ${POST_KIND}
       JOIN demo_fusers u ON u.n = ${userNo('f.first_user + (p.idx::bigint * 7919) % f.authors', plan.users)}
       WHERE p.idx BETWEEN $1 AND $2 ORDER BY p.idx`,
      [from, to, plan.run, TITLES, BODIES],
    );
    step(to - from + 1);
  }
}

/**
 * Polls: 2–5 options; a poll has v + 3 voters (at most its forum's community), voter k
 * picking option k mod options, so option o counts ⌊voters / options⌋ plus one if
 * o < voters mod options.
 */
async function writePolls(client: pg.ClientBase, plan: ForumsDemoPlan): Promise<number> {
  const polls = `FROM demo_fpost p JOIN demo_forum f ON f.idx = p.forum ${POST_KIND}
    CROSS JOIN LATERAL (SELECT 2 + p.idx / 40 % 4 AS options, least(f.community, p.v + 3) AS voters) AS poll`;
  await client.query(
    `INSERT INTO poll_options (id, post_id, position, label, vote_count, inserted_at, updated_at)
     SELECT pg_temp.fdemo_id(p.ms, $1, (5::bigint << 58) | (p.idx::bigint << 4) | o), p.id, o, 'Option ' || (o + 1),
            poll.voters / poll.options + (o < poll.voters % poll.options)::int, x.at, x.at
     ${polls} CROSS JOIN LATERAL generate_series(0, poll.options - 1) AS o WHERE x.type = 'poll'`,
    [plan.run],
  );
  const votes = await client.query(
    `INSERT INTO poll_votes (post_id, user_id, option_id, inserted_at, updated_at)
     SELECT p.id, u.id, pg_temp.fdemo_id(p.ms, $1, (5::bigint << 58) | (p.idx::bigint << 4) | (k % poll.options)),
            x.at + interval '1 minute', x.at + interval '1 minute'
     ${polls} CROSS JOIN LATERAL generate_series(0, poll.voters - 1) AS k
     JOIN demo_fusers u ON u.n = ${userNo('f.first_user + (p.idx::bigint * 7919 + 13 + k) % f.community', plan.users)}
     WHERE x.type = 'poll'`,
    [plan.run],
  );
  return votes.rowCount ?? 0;
}

/**
 * Comment j (0-based) of a post with c comments. The first T = 1 + c/8 are top-level (wide
 * threads); the next H form a binary heap below them (node i answers (i - T) / 2, depth
 * ⌊log2((i + T) / T)⌋); the last L = (c - T) / 4 are reply chains of K (3–50) comments, chain
 * q hanging off top-level comment q mod T, so position k in a chain is at depth k + 1 (deep
 * threads). Every 37th comment is deleted (content removed, replies kept); comment_count
 * was written as c - ⌊c / 37⌋. Votes: 0–8 on a top-level comment, 0–2 on a reply, and in
 * big threads up to 120 more on the first 30 (the ones everybody saw).
 */
async function writeComments(client: pg.ClientBase, plan: ForumsDemoPlan, from: number, to: number): Promise<number> {
  const inserted = await client.query(
    `WITH shape AS (
       SELECT p.id AS post_id, p.idx, p.ms, p.cstep, p.c, j, f.first_user, f.community, f.authors,
              t.roots, t.heap_end, t.chain,
              CASE WHEN j < t.roots THEN NULL
                   WHEN j < t.heap_end THEN (j - t.roots) / 2
                   WHEN (j - t.heap_end) % t.chain = 0 THEN ((j - t.heap_end) / t.chain) % t.roots
                   ELSE j - 1 END AS parent,
              CASE WHEN j < t.roots THEN 0
                   WHEN j < t.heap_end THEN 32 - position('1' IN ((j + t.roots) / t.roots)::bit(32)::text)
                   ELSE (j - t.heap_end) % t.chain + 1 END AS depth
       FROM demo_fpost p JOIN demo_forum f ON f.idx = p.forum
       CROSS JOIN LATERAL (SELECT 1 + p.c / 8 AS roots, p.c - (p.c - 1 - p.c / 8) / 4 AS heap_end, 3 + (p.idx * 7) % 48 AS chain) AS t
       CROSS JOIN LATERAL generate_series(0, p.c - 1) AS j
       WHERE p.idx BETWEEN $1 AND $2 AND p.c > 0
     ), voted AS (
       SELECT s.*, least(s.community, CASE WHEN s.j < s.roots THEN (s.j * 7 + s.idx) % 9 + greatest(0, 30 - s.j) * s.c / 2500
                                           ELSE (s.j * 13 + s.idx) % 3 END) AS n
       FROM shape s
     ), comments AS (
       INSERT INTO forum_comments (id, post_id, author_id, parent_id, content, score, upvotes, downvotes, depth, deleted_at, inserted_at, updated_at)
       SELECT pg_temp.fdemo_id(v.ms + (v.j + 1) * v.cstep, $3, (4::bigint << 58) | (v.idx::bigint << 20) | v.j), v.post_id,
              u.id,
              CASE WHEN v.parent IS NOT NULL THEN pg_temp.fdemo_id(v.ms + (v.parent + 1) * v.cstep, $3, (4::bigint << 58) | (v.idx::bigint << 20) | v.parent) END,
              CASE WHEN v.j % 37 = 36 THEN '' ELSE ($4::text[])[1 + (v.j * 7 + v.idx) % cardinality($4::text[])] END,
              v.n - 2 * (v.n * ((v.j + v.idx) % 4) / 8), v.n - v.n * ((v.j + v.idx) % 4) / 8, v.n * ((v.j + v.idx) % 4) / 8,
              v.depth, CASE WHEN v.j % 37 = 36 THEN to_timestamp((v.ms + (v.j + 1) * v.cstep) / 1000.0) END,
              to_timestamp((v.ms + (v.j + 1) * v.cstep) / 1000.0), to_timestamp((v.ms + (v.j + 1) * v.cstep) / 1000.0)
       FROM voted v JOIN demo_fusers u ON u.n = ${userNo('v.first_user + (v.idx::bigint * 31 + v.j::bigint * 7919) % v.community', plan.users)}
       ORDER BY v.idx, v.j
       RETURNING id, post_id, upvotes, downvotes, inserted_at
     )
     INSERT INTO comment_votes (comment_id, user_id, value, inserted_at, updated_at)
     SELECT c.id, u.id, CASE WHEN k < c.upvotes THEN 1 ELSE -1 END, c.inserted_at, c.inserted_at
     FROM comments c JOIN demo_fpost p ON p.id = c.post_id JOIN demo_forum f ON f.idx = p.forum
     CROSS JOIN LATERAL generate_series(0, c.upvotes + c.downvotes - 1) AS k
     JOIN demo_fusers u ON u.n = ${userNo('f.first_user + (abs(hashtext(c.id::text))::bigint + k) % f.community', plan.users)}`,
    [from, to, plan.run, COMMENTS],
  );
  return inserted.rowCount ?? 0;
}
