// Listings: each sort is a range of its own index without a sort over the forum (EXPLAIN),
// and paging through a listing while scores move shows every post exactly once.
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { explainPlan, useTestDatabase } from '../../../test/db.ts';
import { NAMED_QUERIES } from '../../db/explain.ts';
import { newId } from '../../lib/ids.ts';
import { listPosts, rankedIdsQuery, SNAPSHOT_SIZE, type Listing, type ListPostsOptions } from './ranking.ts';

const t = useTestDatabase();
const owner = newId();
let voters: string[] = [];

async function makeForum(slug: string, posts: number, spreadDays = 400): Promise<string> {
  const forumId = newId();
  await t.db.insertInto('forums').values({ id: forumId, name: slug, slug, owner_id: owner }).execute();
  // Spread over the last 400 days so the top windows have something to cut.
  await sql`
    INSERT INTO forum_posts (id, forum_id, author_id, title, inserted_at)
    SELECT cgraph_uuid_v7(), ${forumId}::uuid, ${owner}::uuid, 'post ' || g, now() - (g % ${spreadDays + 1}) * interval '1 day' - g * interval '1 second'
    FROM generate_series(1, ${posts}) AS g`.execute(t.db);
  return forumId;
}

/** Random votes from the voters on `count` random posts of the forum (triggers move the scores). */
async function shake(forumId: string, count: number): Promise<void> {
  await sql`
    INSERT INTO forum_votes (post_id, user_id, value)
    SELECT p.id, v.id, CASE WHEN random() < 0.5 THEN 1 ELSE -1 END
    FROM (SELECT id FROM forum_posts WHERE forum_id = ${forumId}::uuid ORDER BY random() LIMIT ${count}) p
    CROSS JOIN LATERAL (SELECT id FROM unnest(${voters}::uuid[]) AS u(id) ORDER BY random() LIMIT 1 + (random() * 8)::int) v
    ON CONFLICT (post_id, user_id) DO UPDATE SET value = -forum_votes.value`.execute(t.db);
}

/** Every voter upvotes one post not seen yet: it jumps to the top of hot and top. */
async function boostUnseen(forumId: string, seen: readonly string[]): Promise<void> {
  const post = await t.db
    .selectFrom('forum_posts')
    .select('id')
    .where('forum_id', '=', forumId)
    .$if(seen.length > 0, (q) => q.where('id', 'not in', seen))
    .orderBy('hot')
    .limit(1)
    .executeTakeFirst();
  if (!post) return;
  await sql`
    INSERT INTO forum_votes (post_id, user_id, value) SELECT ${post.id}::uuid, id, 1 FROM unnest(${voters}::uuid[]) AS u(id)
    ON CONFLICT (post_id, user_id) DO UPDATE SET value = 1`.execute(t.db);
}

beforeAll(async () => {
  await t.db.insertInto('users').values({ id: owner, email: 'rank@example.com', username: 'rank_owner', password_hash: 'x' }).execute();
  voters = (
    await sql<{ id: string }>`
      INSERT INTO users (id, email, username, password_hash)
      SELECT cgraph_uuid_v7(), 'rv' || g || '@example.com', 'rv_' || g, 'x' FROM generate_series(1, 60) AS g RETURNING id`.execute(t.db)
  ).rows.map((row) => row.id);
});

describe('plans', () => {
  let big = '';
  beforeAll(async () => {
    big = await makeForum('plans-big', 20000);
    await makeForum('plans-other', 20000);
    await shake(big, 3000);
    await sql`VACUUM ANALYZE`.execute(t.db);
  });

  const INDEX: Record<string, string> = {
    hot: 'forum_posts_forum_id_hot_id_index',
    new: 'forum_posts_forum_id_id_index',
    top_all: 'forum_posts_forum_id_score_id_index',
    top_year: 'forum_posts_forum_id_score_id_index',
    top_month: 'forum_posts_forum_id_day_score_id_index',
    top_week: 'forum_posts_forum_id_day_score_id_index',
    top_day: 'forum_posts_forum_id_day_score_id_index',
  };
  /** A Sort node (not the "Sort Key:" line of a Merge Append). */
  const SORT_NODE = /(^|->\s+)Sort\s+\(/m;

  for (const [listing, index] of Object.entries(INDEX)) {
    it(`${listing}: a range of ${index}, first and deep pages, no sort`, async () => {
      const [deep] = await rankedIdsQuery(t.db, big, listing as Listing, undefined, 5001).execute().then((rows) => rows.slice(-Math.min(rows.length, 10)));
      for (const after of [undefined, { key: deep!.sort_key, id: deep!.id }]) {
        const q = rankedIdsQuery(t.db, big, listing as Listing, after, 51).compile();
        const plan = await explainPlan(t, q.sql, q.parameters);
        // A later `new` page may walk back from the cursor on either id index (both local).
        if (listing === 'new' && after) expect(plan, plan).toMatch(/forum_posts_forum_id_id_index|forum_posts_pkey/);
        else expect(plan, plan).toContain(index);
        expect(plan, plan).not.toMatch(SORT_NODE);
        // t=day|week|month: one range per day of the window, merged without a sort.
        if (index.includes('_day_')) expect(plan, plan).toContain('Merge Append');
        // The cursor bounds the index range: no walk from the top of the forum.
        if (after) expect(plan, plan).toMatch(listing === 'new' ? /Index Cond: .*\(id < / : /Index Cond: .*ROW\(/);
        if (process.env.SHOW_PLANS) console.log(plan);
      }
    });
  }

  it('the statements src/db/explain.ts names are the first pages this code runs, on the same indexes', async () => {
    const named = { 'forum_posts.hot': ['hot', INDEX.hot], 'forum_posts.new': ['new', INDEX.new], 'forum_posts.top': ['top_all', INDEX.top_all] } as const;
    const normal = (text: string) => text.replaceAll('"', '').replace(/\s+/g, ' ').toLowerCase();
    for (const [name, [listing, index]] of Object.entries(named)) {
      const query = NAMED_QUERIES[name]!;
      const limit = Number(/LIMIT (\d+)$/.exec(query.sql)![1]);
      const compiled = rankedIdsQuery(t.db, big, listing, undefined, limit).compile();
      // The same statement with the forum as $1 and the other parameters inlined.
      const inlined = compiled.sql.replace(/\$(\d+)/g, (_, k: string) => {
        const value = compiled.parameters[Number(k) - 1];
        return value === big ? '$1' : String(value);
      });
      expect(normal(inlined), name).toBe(normal(query.sql));
      expect(await explainPlan(t, query.sql, [big]), name).toContain(index);
    }
  });

});

/** Every post of a listing, page by page, calling `between` before each next page. */
async function pageThrough(slug: string, opts: Omit<ListPostsOptions, 'cursor'>, between: (seen: readonly string[]) => Promise<void>) {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await listPosts(t.db, owner, slug, { ...opts, cursor });
    seen.push(...page.data.map((post) => post.id));
    if (!page.next_cursor) return seen;
    cursor = page.next_cursor;
    await between(seen);
  }
  throw new Error('paging did not end');
}

const allLive = async (forumId: string) =>
  (await t.db.selectFrom('forum_posts').select('id').where('forum_id', '=', forumId).where('deleted_at', 'is', null).execute()).map((r) => r.id).sort();

describe('paging while scores move', () => {
  it('hot and top: every post once, however the scores move between pages', async () => {
    // Posts of the same few minutes, so hot follows the score; between pages, random votes
    // on 60 posts and one unseen post voted to the top.
    const forumId = await makeForum('moving', 600, 0);
    await shake(forumId, 300);
    const expected = await allLive(forumId);
    for (const opts of [{ sort: 'hot', limit: 25 }, { sort: 'top', t: 'all', limit: 40 }, { sort: 'top', t: 'week', limit: 30 }] as const) {
      const seen = await pageThrough('moving', opts, async (shown) => {
        await shake(forumId, 60);
        await boostUnseen(forumId, shown);
      });
      expect(new Set(seen).size, opts.sort).toBe(seen.length);
      expect([...seen].sort(), opts.sort).toEqual(expected);
    }
  }, 60_000);

  it('the live keyset alone would not be stable: the same shaking skips or repeats posts', async () => {
    // The control experiment for the test above: page by (hot, id) with no snapshot.
    const forumId = await makeForum('moving-live', 600, 0);
    await shake(forumId, 300);
    const expected = await allLive(forumId);
    const seen: string[] = [];
    let after: { key: string; id: string } | undefined;
    for (;;) {
      const rows = await rankedIdsQuery(t.db, forumId, 'hot', after, 25).execute();
      seen.push(...rows.map((row) => row.id));
      if (rows.length < 25) break;
      after = { key: rows.at(-1)!.sort_key, id: rows.at(-1)!.id };
      await shake(forumId, 60);
      await boostUnseen(forumId, seen);
    }
    // Each boosted post jumped over the cursor before it was shown: skipped.
    expect(expected.filter((id) => !seen.includes(id)).length).toBeGreaterThan(0);
  }, 60_000);

  it('new: posts written while paging neither repeat nor push old ones out', async () => {
    const forumId = await makeForum('growing', 200);
    const expected = await allLive(forumId);
    const seen = await pageThrough('growing', { sort: 'new', limit: 30 }, async () => {
      await sql`INSERT INTO forum_posts (id, forum_id, title) SELECT cgraph_uuid_v7(), ${forumId}::uuid, 'late' FROM generate_series(1, 7)`.execute(t.db);
    });
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => expected.includes(id)).sort()).toEqual(expected);
  });

  it(`past the ${SNAPSHOT_SIZE}-post snapshot paging continues live, and an expired snapshot falls back to live`, async () => {
    const forumId = await makeForum('deep', SNAPSHOT_SIZE + 234);
    await shake(forumId, 500);
    const expected = await allLive(forumId);
    const seen = await pageThrough('deep', { sort: 'hot', limit: 100 }, async () => undefined);
    expect(seen.length).toBe(expected.length);
    expect([...seen].sort()).toEqual(expected);
    const hots = (await t.db.selectFrom('forum_posts').select(['id', 'hot']).where('forum_id', '=', forumId).execute()).reduce(
      (map, row) => map.set(row.id, row.hot),
      new Map<string, number>(),
    );
    for (let i = 1; i < seen.length; i++) expect(hots.get(seen[i]!)!).toBeLessThanOrEqual(hots.get(seen[i - 1]!)!);

    const first = await listPosts(t.db, owner, 'deep', { sort: 'hot', limit: 100 });
    await t.db.deleteFrom('forum_listings').execute();
    const second = await listPosts(t.db, owner, 'deep', { sort: 'hot', limit: 100, cursor: first.next_cursor! });
    expect(second.data).toHaveLength(100);
    expect(second.data.some((post) => first.data.some((p) => p.id === post.id))).toBe(false);
  }, 60_000);

  it('a cursor belongs to its sort: another sort or window is 400 invalid_cursor', async () => {
    await makeForum('cursors', 30);
    const hot = await listPosts(t.db, owner, 'cursors', { sort: 'hot', limit: 10 });
    const top = await listPosts(t.db, owner, 'cursors', { sort: 'top', t: 'all', limit: 10 });
    await expect(listPosts(t.db, owner, 'cursors', { sort: 'new', limit: 10, cursor: hot.next_cursor! })).rejects.toMatchObject({ code: 'invalid_cursor' });
    await expect(listPosts(t.db, owner, 'cursors', { sort: 'top', t: 'week', limit: 10, cursor: top.next_cursor! })).rejects.toMatchObject({ code: 'invalid_cursor' });
    const forged = Buffer.from(JSON.stringify(['k', 'hot', 'NaN-ish', newId(), '', ''])).toString('base64url');
    await expect(listPosts(t.db, owner, 'cursors', { sort: 'hot', limit: 10, cursor: forged })).rejects.toMatchObject({ code: 'invalid_cursor' });
  });
});
