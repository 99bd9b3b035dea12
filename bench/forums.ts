// `npm run bench -- forums`: forum listings, a big comment tree and voting at scale.
// Generates a forum of BENCH_POSTS posts (default 1 000 000; scores skewed like real
// votes, spread over a year) beside a second forum a tenth of its size, and a post with
// 10 000 comments in a random tree. Then measures, sequentially:
//   * each listing's statement at the pool (hot, new, top t=all and t=week; the first page,
//     which for hot/top reads the 1001 ids its snapshot keeps, and a deep page 100 000 posts
//     in) and the same pages over HTTP (a real listening server, anonymous GETs), p50/p99;
//   * the 10 000-comment tree's first page (≤ 500 comments), over HTTP;
// and the throughput of concurrent votes (16 workers) on one hot post and spread over
// 100 000 posts, through the service (castPostVote) and as the same statements on a plain
// `pg` client, interleaved in rounds.
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { Db } from '../src/db/database.ts';
import { encodeCursor } from '../src/db/pagination.ts';
import { createLogger } from '../src/lib/logger.ts';
import { newId } from '../src/lib/ids.ts';
import { rankedIdsQuery, SNAPSHOT_SIZE, type Listing } from '../src/modules/forums/ranking.ts';
import { castPostVote, type VoteValue } from '../src/modules/forums/votes.ts';
import { benchDatabase, compare, fmt, measure, percentile } from './lib.ts';

const POSTS = Number(process.env.BENCH_POSTS ?? 1_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 1_000);
const USERS = 10_000;
const TREE = 10_000;
const DEEP = Math.min(100_000, Math.floor(POSTS / 2));
const VOTES_PER_ROUND = Number(process.env.BENCH_VOTES ?? 3_000);

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

async function timed(samples: number, op: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await op();
    out.push(performance.now() - started);
  }
  return out;
}

function line(label: string, values: number[]): void {
  const p = (n: number) => percentile(values, n).toFixed(2).padStart(7);
  console.log(`  ${label.padEnd(44)} ${p(50)} ${p(99)} ${Math.max(...values).toFixed(2).padStart(7)}`);
}

async function generate(db: Db): Promise<{ forumId: string; treePostId: string; users: string[] }> {
  let started = performance.now();
  await sql`
    INSERT INTO users (id, username, email, password_hash)
    SELECT cgraph_uuid_v7(), 'fb_' || g, 'fb_' || g || '@bench.test', 'x' FROM generate_series(1, ${USERS}) AS g`.execute(db);
  const users = (await db.selectFrom('users').select('id').execute()).map((u) => u.id);
  const forumId = newId();
  const otherId = newId();
  await db
    .insertInto('forums')
    .values([
      { id: forumId, name: 'Bench', slug: 'bench', owner_id: users[0]! },
      { id: otherId, name: 'Other', slug: 'bench-other', owner_id: users[0]! },
    ])
    .execute();
  console.log(`  users and forums: ${seconds(started)} s`);

  // Secondary indexes are dropped during the bulk load and rebuilt from their definitions.
  started = performance.now();
  const indexes = await sql<{ name: string; def: string }>`
    SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def
    FROM pg_index WHERE indrelid = 'forum_posts'::regclass AND NOT indisprimary`.execute(db);
  for (const index of indexes.rows) await sql`DROP INDEX ${sql.id(index.name)}`.execute(db);
  // Scores: most posts near 0, a long tail to tens of thousands (as votes concentrate).
  // Ids are generated in inserted_at order, so `new` and `hot` agree on what is recent.
  for (const [id, count] of [
    [forumId, POSTS],
    [otherId, Math.ceil(POSTS / 10)],
  ] as const) {
    await sql`
      INSERT INTO forum_posts (id, forum_id, author_id, title, content, upvotes, downvotes, score, comment_count, inserted_at)
      SELECT cgraph_uuid_v7(), ${id}::uuid, ${users[1]!}::uuid, 'post ' || g, 'body of post ' || g, up, down, up - down, 0, at
      FROM (
        SELECT g, at, floor(exp(r * 10))::int AS up, floor(exp(r * 10) * random() * 0.4)::int AS down
        FROM (SELECT g, random() AS r, now() - (${count} - g) * (interval '365 days' / ${count}) AS at
              FROM generate_series(1, ${count}) AS g) s
        ORDER BY at
      ) t`.execute(db);
  }
  console.log(`  posts:            ${seconds(started)} s (${fmt(POSTS)} + ${fmt(Math.ceil(POSTS / 10))}, indexes dropped)`);
  started = performance.now();
  for (const index of indexes.rows) await sql.raw(index.def).execute(db);
  console.log(`  indexes:          ${seconds(started)} s`);

  // A post with 10 000 comments: each replies to a random earlier one (or to the post).
  started = performance.now();
  const treePostId = (await db.insertInto('forum_posts').values({ id: newId(), forum_id: otherId, title: 'the big thread' }).returning('id').executeTakeFirstOrThrow()).id;
  const comments: Array<{ id: string; post_id: string; author_id: string; parent_id: string | null; content: string; depth: number; upvotes: number; downvotes: number; score: number }> = [];
  for (let i = 0; i < TREE; i++) {
    const parent = i < 500 || Math.random() < 0.2 ? undefined : comments[Math.floor(Math.random() * i)];
    const up = Math.floor(Math.random() * 50);
    const down = Math.floor(Math.random() * 10);
    comments.push({
      id: newId(),
      post_id: treePostId,
      author_id: users[i % users.length]!,
      parent_id: parent?.id ?? null,
      content: `comment ${i}`,
      depth: parent ? parent.depth + 1 : 0,
      upvotes: up,
      downvotes: down,
      score: up - down,
    });
  }
  for (let i = 0; i < comments.length; i += 1000) await db.insertInto('forum_comments').values(comments.slice(i, i + 1000)).execute();
  console.log(`  comment tree:     ${seconds(started)} s (${fmt(TREE)} comments, max depth ${Math.max(...comments.map((c) => c.depth))})`);

  started = performance.now();
  await sql`VACUUM ANALYZE`.execute(db);
  console.log(`  vacuum analyze:   ${seconds(started)} s`);
  const size = await sql<{ table: string; indexes: string }>`
    SELECT pg_size_pretty(pg_table_size('forum_posts')) AS table, pg_size_pretty(pg_indexes_size('forum_posts')) AS indexes`.execute(db);
  console.log(`  forum_posts: table ${size.rows[0]!.table}, indexes ${size.rows[0]!.indexes}`);
  return { forumId, treePostId, users };
}

export async function run(): Promise<void> {
  const bench = await benchDatabase('cgraph_bench_forums');
  const { db, pool } = bench.database;
  const config = loadConfig({ NODE_ENV: 'development', DATABASE_URL: bench.url, LOG_LEVEL: 'warn', POOL_SIZE: '20', RATE_LIMIT_ENABLED: 'false' });
  const app = await buildApp({ config, database: bench.database, logger: createLogger('warn') });
  try {
    console.log(`forums benchmark: ${fmt(POSTS)} posts in one forum, ${SAMPLES} samples per figure, ${availableParallelism()} cores`);
    const { forumId, treePostId, users } = await generate(db);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1`;
    const getJson = async (url: string) => {
      const res = await fetch(`${base}${url}`);
      if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ data: unknown[]; next_cursor: string | null }>;
    };

    // -- listings ---------------------------------------------------------------------------
    const listings: Array<{ listing: Listing; query: string }> = [
      { listing: 'hot', query: 'sort=hot' },
      { listing: 'new', query: 'sort=new' },
      { listing: 'top_all', query: 'sort=top&t=all' },
      { listing: 'top_week', query: 'sort=top&t=week' },
      { listing: 'top_month', query: 'sort=top&t=month' },
    ];
    console.log('\nlisting statement at the pool (ms)                    p50     p99     max');
    const deepCursors = new Map<Listing, { key: string; id: string; depth: number }>();
    for (const { listing } of listings) {
      // DEEP posts in, or (for a time window holding fewer) 50 posts before its end.
      const ranked = await rankedIdsQuery(db, forumId, listing, undefined, DEEP).execute();
      const depth = ranked.length === DEEP ? DEEP : Math.max(1, ranked.length - 50);
      const last = ranked[depth - 1]!;
      deepCursors.set(listing, { key: last.sort_key, id: last.id, depth });
      const firstLimit = listing === 'new' ? 51 : SNAPSHOT_SIZE + 1;
      await timed(50, () => rankedIdsQuery(db, forumId, listing, undefined, firstLimit).execute());
      line(`${listing}: first page (LIMIT ${firstLimit})`, await timed(SAMPLES, () => rankedIdsQuery(db, forumId, listing, undefined, firstLimit).execute()));
      line(`${listing}: page ${fmt(depth)} posts deep (LIMIT 51)`, await timed(SAMPLES, () => rankedIdsQuery(db, forumId, listing, deepCursors.get(listing), 51).execute()));
    }

    console.log('\nGET /forums/bench/posts over HTTP, 50 posts (ms)          p50     p99     max');
    const httpP99: number[] = [];
    for (const { listing, query } of listings) {
      const deep = deepCursors.get(listing)!;
      const cursor = encodeCursor(['k', listing, deep.key, deep.id, '', '']);
      await timed(50, () => getJson(`/forums/bench/posts?${query}`));
      const first = await timed(SAMPLES, () => getJson(`/forums/bench/posts?${query}`));
      const deepPage = await timed(SAMPLES, () => getJson(`/forums/bench/posts?${query}&cursor=${cursor}`));
      line(`${listing}: first page`, first);
      line(`${listing}: page ${fmt(deep.depth)} posts deep`, deepPage);
      httpP99.push(percentile(first, 99), percentile(deepPage, 99));
      if (listing !== 'new') {
        const page1 = await getJson(`/forums/bench/posts?${query}`);
        const second = await timed(SAMPLES, () => getJson(`/forums/bench/posts?${query}&cursor=${page1.next_cursor}`));
        line(`${listing}: second page (from the snapshot)`, second);
        httpP99.push(percentile(second, 99));
      }
    }
    const worst = Math.max(...httpP99);
    console.log(`  target p99 < 10 ms over HTTP → ${worst < 10 ? 'met' : 'NOT met'} (worst p99 ${worst.toFixed(2)} ms); load average ${loadavg()[0]!.toFixed(2)}`);

    // -- the big tree -------------------------------------------------------------------------
    console.log(`\nGET /posts/:id/comments, ${fmt(TREE)} comments, first page (≤ 500) (ms)  p50     p99     max`);
    for (const sort of ['best', 'top', 'new']) {
      await timed(20, () => getJson(`/posts/${treePostId}/comments?sort=${sort}`));
      line(`sort=${sort}`, await timed(Math.min(SAMPLES, 200), () => getJson(`/posts/${treePostId}/comments?sort=${sort}`)));
    }
    console.log('  target < 50 ms');

    // -- voting ---------------------------------------------------------------------------------
    const hotPost = (await rankedIdsQuery(db, forumId, 'hot', undefined, 1).execute())[0]!.id;
    const spread = (await rankedIdsQuery(db, forumId, 'new', undefined, 100_000).execute()).map((row) => row.id);
    const randomUser = () => users[Math.floor(Math.random() * users.length)]!;
    const randomValue = (): VoteValue => ([1, 1, -1, 0] as const)[Math.floor(Math.random() * 4)]!;
    // The same two statements castPostVote runs (the vote, autocommitted; then the score).
    const plain = async (postId: string) => {
      const user = randomUser();
      const value = randomValue();
      if (value === 0) await pool.query('DELETE FROM forum_votes WHERE post_id = $1 AND user_id = $2', [postId, user]);
      else {
        await pool.query(
          `INSERT INTO forum_votes (post_id, user_id, value) VALUES ($1, $2, $3)
           ON CONFLICT (post_id, user_id) DO UPDATE SET value = excluded.value, updated_at = now() WHERE forum_votes.value <> excluded.value`,
          [postId, user, value],
        );
      }
      await pool.query('SELECT score FROM forum_posts WHERE id = $1', [postId]);
    };
    const pick = () => spread[Math.floor(Math.random() * spread.length)]!;
    await sql`CREATE TABLE bench_scores AS SELECT id, score FROM forum_posts WHERE forum_id = ${forumId}::uuid`.execute(db);
    await sql`ALTER TABLE bench_scores ADD PRIMARY KEY (id)`.execute(db);
    const results = await compare(3, {
      'one hot post, castPostVote': () => measure(VOTES_PER_ROUND, 16, () => castPostVote(db, randomUser(), hotPost, randomValue())),
      'one hot post, plain pg': () => measure(VOTES_PER_ROUND, 16, () => plain(hotPost)),
      'spread over 100 000 posts, castPostVote': () => measure(VOTES_PER_ROUND, 16, () => castPostVote(db, randomUser(), pick(), randomValue())),
      'spread over 100 000 posts, plain pg': () => measure(VOTES_PER_ROUND, 16, () => plain(pick())),
    });
    console.log(`\nvotes per second, 16 concurrent voters, ${fmt(VOTES_PER_ROUND)} votes per round, median of 3 rounds`);
    for (const [name, result] of Object.entries(results)) {
      console.log(`  ${name.padEnd(44)} ${fmt(result.rate).padStart(8)}   (rounds: ${result.rates.map((r) => fmt(r)).join(', ')})`);
    }
    // Exactness after the race: the generated posts had no vote rows, so each voted post's
    // score moved by exactly the sum of its vote rows.
    const drift = await sql<{ voted: number; bad: number }>`
      SELECT count(*)::int AS voted, count(*) FILTER (WHERE p.score - b.score <> v.total)::int AS bad
      FROM (SELECT post_id, sum(value)::int AS total FROM forum_votes GROUP BY post_id) v
      JOIN forum_posts p ON p.id = v.post_id JOIN bench_scores b ON b.id = v.post_id`.execute(db);
    console.log(`  voted posts: ${fmt(drift.rows[0]!.voted)}; whose score moved by other than the sum of their votes: ${drift.rows[0]!.bad}`);
  } finally {
    await app.close();
    await bench.close();
  }
}
