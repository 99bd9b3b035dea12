// `npm run bench -- forums`: forum listings, a big comment tree and voting at scale, against
// a real `cgraph serve` process on loopback (bench/server.ts; an undici keep-alive pool as
// the client, so the load generator costs little CPU and shares no event loop with the
// server). Generates a forum of BENCH_POSTS posts (default 1 000 000; scores skewed like
// real votes, spread over a year) beside a second forum a tenth of its size, and a post
// with 10 000 comments in a random tree. Then measures, each figure beside its baseline:
//   1. each listing's ranked statement at the pool, one client (hot, new, top t=all, week,
//      month; the first page and a deep page 100 000 posts in), beside a primary-key read;
//   2. GET /forums/bench/posts over HTTP, signed out, BENCH_READERS clients (default 1):
//      first page, deep page, and for hot/top the second page (it records the listing
//      snapshot) and the third (read from it); beside GET /health at the same concurrency
//      (target: first and deep pages p99 < 10 ms); plus hot's first page signed in, and
//      10 concurrent readers of hot's first page beside GET /health at 10;
//   3. the 10 000-comment tree's first page (≤ 500 comments) over HTTP (target < 50 ms);
//   4. votes per second, 16 concurrent voters, on one hot post and spread over 100 000
//      posts: over HTTP (POST /posts/:id/vote, 200 signed-in users), through the service
//      in this process (castPostVote) and as the same statements on a plain `pg` pool the
//      size of the server's, interleaved in rounds.
// Each HTTP figure also gives the server process's CPU time per request (from /proc): on a
// shared machine latencies mostly measure the queue for the cores, CPU per request does not.
// BENCH_SECONDS (default 5) per timed phase, BENCH_ROUNDS (default 3) interleaved rounds
// of the vote figures, BENCH_VOTES votes per round, BENCH_SERVER_NODE_ARGS node flags for
// the server (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
import { availableParallelism, loadavg } from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import type { Db } from '../src/db/database.ts';
import { encodeCursor } from '../src/db/pagination.ts';
import { newId } from '../src/lib/ids.ts';
import { rankedIdsQuery, type Listing } from '../src/modules/forums/ranking.ts';
import { castPostVote, type VoteValue } from '../src/modules/forums/votes.ts';
import { createSession } from '../src/modules/sessions/service.ts';
import { benchDatabase, compare, fmt, measure, median, type Sample } from './lib.ts';
import { cpuMs, HttpClient, onServer, startServer, timed, type BenchServer, type Timed } from './server.ts';

const POSTS = Number(process.env.BENCH_POSTS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const READERS = Number(process.env.BENCH_READERS ?? 1);
const VOTES_PER_ROUND = Number(process.env.BENCH_VOTES ?? 3_000);
const USERS = 10_000;
const VOTERS = 200;
const TREE = 10_000;
const DEEP = Math.min(100_000, Math.floor(POSTS / 2));
const POOL_SIZE = 10;

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
const ms = (n: number) => n.toFixed(2).padStart(7);
type Measured = Timed & { cpu: number };

function line(label: string, r: Measured, baseline?: Measured): void {
  const base = baseline ? `   | /health ${ms(baseline.p50)} ${ms(baseline.p99)}, ${baseline.cpu.toFixed(2)} ms CPU` : '';
  console.log(`  ${label.padEnd(44)} ${ms(r.p50)} ${ms(r.p99)} ${fmt(r.rate).padStart(7)}/s ${r.cpu.toFixed(2).padStart(6)} ms CPU${base}`);
}

export async function generate(db: Db): Promise<{ forumId: string; treePostId: string; users: string[] }> {
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
  let server: BenchServer | undefined;
  let http: HttpClient | undefined;
  const plain = new pg.Pool({ connectionString: bench.url, max: POOL_SIZE });
  plain.on('error', () => undefined); // idle clients dropped with the database on failure
  try {
    console.log(`forums benchmark: ${fmt(POSTS)} posts in one forum; ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}`);
    const { forumId, treePostId, users } = await generate(db);
    const policy = { ttlMs: 86_400_000, idleTimeoutMs: 86_400_000 };
    const voters = users.slice(0, VOTERS);
    const tokens: string[] = [];
    for (const id of voters) tokens.push((await createSession(db, policy, id, { userAgent: 'bench', ip: '127.0.0.1' })).token);

    server = await startServer(bench.url, { POOL_SIZE: String(POOL_SIZE) });
    const client = (http = new HttpClient(server.base));
    const pid = server.pid;
    server.child.once('exit', (code, signal) => console.error(`the server exited (code ${code}, signal ${signal})`));
    const getJson = async (url: string, token?: string) =>
      (await client.expect(200, 'GET', `/api/v1${url}`, { token })).json<{ data: unknown[]; next_cursor: string | null }>();
    const phase = (clients: number, op: () => Promise<unknown>) => onServer(pid, () => timed(SECONDS, clients, async () => void (await op())));
    const health = () => phase(READERS, () => client.expect(200, 'GET', '/health'));

    // -- 1. statements at the pool ------------------------------------------------------------
    const listings: Array<{ listing: Listing; query: string }> = [
      { listing: 'hot', query: 'sort=hot' },
      { listing: 'new', query: 'sort=new' },
      { listing: 'top_all', query: 'sort=top&t=all' },
      { listing: 'top_week', query: 'sort=top&t=week' },
      { listing: 'top_month', query: 'sort=top&t=month' },
    ];
    const atPool = (op: () => Promise<unknown>) => timed(SECONDS, 1, async () => void (await op()));
    console.log('\n1. ranked ids at the pool, one client (ms)           p50     p99');
    const pk = await atPool(() => pool.query('SELECT id, hot FROM forum_posts WHERE id = $1', [forumId]));
    console.log(`  baseline: one post by primary key               ${ms(pk.p50)} ${ms(pk.p99)}`);
    const deepCursors = new Map<Listing, { key: string; id: string; depth: number }>();
    for (const { listing } of listings) {
      // DEEP posts in, or (for a time window holding fewer) 50 posts before its end.
      const ranked = await rankedIdsQuery(db, forumId, listing, undefined, DEEP).execute();
      const depth = ranked.length === DEEP ? DEEP : Math.max(1, ranked.length - 50);
      const last = ranked[depth - 1]!;
      deepCursors.set(listing, { key: last.sort_key, id: last.id, depth });
      const first = await atPool(() => rankedIdsQuery(db, forumId, listing, undefined, 51).execute());
      const deep = await atPool(() => rankedIdsQuery(db, forumId, listing, deepCursors.get(listing), 51).execute());
      console.log(`  ${`${listing}: first page (LIMIT 51)`.padEnd(46)} ${ms(first.p50)} ${ms(first.p99)}`);
      console.log(`  ${`${listing}: page ${fmt(depth)} posts deep (LIMIT 51)`.padEnd(46)} ${ms(deep.p50)} ${ms(deep.p99)}`);
    }

    // -- 2. listings over HTTP -------------------------------------------------------------------
    console.log(`\n2. GET /forums/bench/posts over HTTP, 50 posts, ${READERS} client(s), ${SECONDS} s each (ms)  p50     p99     rate   server CPU/req`);
    await phase(READERS, () => getJson('/forums/bench/posts')); // warm-up: connections, JIT, caches
    const baseline = await health();
    line('baseline GET /health', baseline);
    const targets: number[] = [];
    for (const { listing, query } of listings) {
      const deep = deepCursors.get(listing)!;
      const cursor = encodeCursor(['k', listing, deep.key, deep.id, '', '']);
      const first = await phase(READERS, () => getJson(`/forums/bench/posts?${query}`));
      const deepPage = await phase(READERS, () => getJson(`/forums/bench/posts?${query}&cursor=${cursor}`));
      line(`${listing}: first page`, first);
      line(`${listing}: page ${fmt(deep.depth)} posts deep`, deepPage);
      targets.push(first.p99, deepPage.p99);
      if (listing !== 'new') {
        const page1 = await getJson(`/forums/bench/posts?${query}`);
        const second = await phase(READERS, () => getJson(`/forums/bench/posts?${query}&cursor=${page1.next_cursor}`));
        line(`${listing}: second page (records the snapshot)`, second);
        const page2 = await getJson(`/forums/bench/posts?${query}&cursor=${page1.next_cursor}`);
        const third = await phase(READERS, () => getJson(`/forums/bench/posts?${query}&cursor=${page2.next_cursor}`));
        line(`${listing}: third page (from the snapshot)`, third);
      }
    }
    const worst = Math.max(...targets);
    console.log(`  target p99 < 10 ms (first and deep pages) → ${worst < 10 ? 'met' : 'NOT met'} (worst p99 ${worst.toFixed(2)} ms); load average ${loadavg()[0]!.toFixed(2)}`);
    line('hot: first page, signed in', await phase(READERS, () => getJson('/forums/bench/posts', tokens[0])));
    const busyHealth = await phase(10, () => client.expect(200, 'GET', '/health'));
    line('hot: first page, 10 concurrent readers', await phase(10, () => getJson('/forums/bench/posts')), busyHealth);

    // -- 3. the big tree -------------------------------------------------------------------------
    console.log(`\n3. GET /posts/:id/comments, ${fmt(TREE)} comments, first page (≤ 500), ${READERS} client(s) (ms)  p50     p99`);
    for (const sort of ['best', 'top', 'new']) {
      await timed(1, READERS, async () => void (await getJson(`/posts/${treePostId}/comments?sort=${sort}`)));
      line(`sort=${sort}`, await phase(READERS, () => getJson(`/posts/${treePostId}/comments?sort=${sort}`)));
    }
    console.log(`  target < 50 ms; load average ${loadavg()[0]!.toFixed(2)}`);

    // -- 4. voting ---------------------------------------------------------------------------------
    const hotPost = (await rankedIdsQuery(db, forumId, 'hot', undefined, 1).execute())[0]!.id;
    const spread = (await rankedIdsQuery(db, forumId, 'new', undefined, 100_000).execute()).map((row) => row.id);
    const randomVoter = () => Math.floor(Math.random() * voters.length);
    const randomValue = (): VoteValue => ([1, 1, -1, 0] as const)[Math.floor(Math.random() * 4)]!;
    const pick = () => spread[Math.floor(Math.random() * spread.length)]!;
    // The same two statements castPostVote runs (the vote, autocommitted; then the score).
    const direct = async (postId: string) => {
      const user = voters[randomVoter()]!;
      const value = randomValue();
      if (value === 0) await plain.query('DELETE FROM forum_votes WHERE post_id = $1 AND user_id = $2', [postId, user]);
      else {
        await plain.query(
          `INSERT INTO forum_votes (post_id, user_id, value) VALUES ($1, $2, $3)
           ON CONFLICT (post_id, user_id) DO UPDATE SET value = excluded.value, updated_at = now() WHERE forum_votes.value <> excluded.value`,
          [postId, user, value],
        );
      }
      await plain.query('SELECT score FROM forum_posts WHERE id = $1', [postId]);
    };
    const overHttp = (postId: () => string) => async (): Promise<Sample & { cpu: number }> => {
      const before = cpuMs(pid);
      const sample = await measure(VOTES_PER_ROUND, 16, () =>
        client.expect(200, 'POST', `/api/v1/posts/${postId()}/vote`, { token: tokens[randomVoter()], body: { value: randomValue() } }),
      );
      return { ...sample, cpu: (cpuMs(pid) - before) / VOTES_PER_ROUND };
    };
    const httpCpu: Record<string, number[]> = { hot: [], spread: [] };
    const withCpu = (key: string, f: () => Promise<Sample & { cpu: number }>) => async () => {
      const r = await f();
      httpCpu[key]!.push(r.cpu);
      return r;
    };
    await sql`CREATE TABLE bench_scores AS SELECT id, score FROM forum_posts WHERE forum_id = ${forumId}::uuid`.execute(db);
    await sql`ALTER TABLE bench_scores ADD PRIMARY KEY (id)`.execute(db);
    const results = await compare(ROUNDS, {
      'one hot post, over HTTP': withCpu('hot', overHttp(() => hotPost)),
      'one hot post, castPostVote': () => measure(VOTES_PER_ROUND, 16, () => castPostVote(db, voters[randomVoter()]!, hotPost, randomValue())),
      'one hot post, plain pg': () => measure(VOTES_PER_ROUND, 16, () => direct(hotPost)),
      'spread over 100 000 posts, over HTTP': withCpu('spread', overHttp(pick)),
      'spread over 100 000 posts, castPostVote': () => measure(VOTES_PER_ROUND, 16, () => castPostVote(db, voters[randomVoter()]!, pick(), randomValue())),
      'spread over 100 000 posts, plain pg': () => measure(VOTES_PER_ROUND, 16, () => direct(pick())),
    });
    console.log(`\n4. votes per second, 16 concurrent voters, ${fmt(VOTES_PER_ROUND)} votes per round, median of ${ROUNDS} rounds (after a warm-up round)`);
    for (const [name, result] of Object.entries(results)) {
      const cpu = name.endsWith('HTTP') ? `, server CPU ${median(httpCpu[name.startsWith('one') ? 'hot' : 'spread']!.slice(1)).toFixed(2)} ms/vote` : '';
      console.log(`  ${name.padEnd(44)} ${fmt(result.rate).padStart(8)}   (rounds: ${result.rates.map((r) => fmt(r)).join(', ')}${cpu})`);
    }
    // Exactness after the race: the generated posts had no vote rows, so each voted post's
    // score moved by exactly the sum of its vote rows.
    const drift = await sql<{ voted: number; bad: number }>`
      SELECT count(*)::int AS voted, count(*) FILTER (WHERE p.score - b.score <> v.total)::int AS bad
      FROM (SELECT post_id, sum(value)::int AS total FROM forum_votes GROUP BY post_id) v
      JOIN forum_posts p ON p.id = v.post_id JOIN bench_scores b ON b.id = v.post_id`.execute(db);
    console.log(`  voted posts: ${fmt(drift.rows[0]!.voted)}; whose score moved by other than the sum of their votes: ${drift.rows[0]!.bad}; load average ${loadavg()[0]!.toFixed(2)}`);
  } catch (error) {
    // Reported here: the cleanup below drops the database, and a pool still open would
    // otherwise crash on its terminated connections and hide this error.
    console.error('forums benchmark failed:', error);
    throw error;
  } finally {
    await http?.close();
    await server?.stop();
    await plain.end().catch(() => undefined);
    await bench.close();
  }
}
