// Listings: each sort is a range of its own index without a sort over the forum (EXPLAIN),
// and paging through a listing while scores move shows every post exactly once.
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { explainPlan, useTestDatabase } from '../../../test/db.ts';
import { NAMED_QUERIES } from '../../db/explain.ts';
import { newId } from '../../lib/ids.ts';
import { listPosts, pageQuery, rankedIdsQuery, SNAPSHOT_SIZE, type Listing, type ListPostsOptions } from './ranking.ts';

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

  for (const [listing, index] of Object.entries(INDEX)) {
    it(`${listing}: the page statement (forum, ranked ids, pinned, details) ranks on ${index} and sorts only its page`, async () => {
      const [deep] = await rankedIdsQuery(t.db, big, listing as Listing, undefined, 5001).execute().then((rows) => rows.slice(-1));
      for (const after of [undefined, { key: deep!.sort_key, id: deep!.id }]) {
        const params = { slug: 'plans-big', viewer: null, afterKey: after?.key ?? null, afterId: after?.id ?? null, today: Math.floor(Date.now() / 86_400_000) };
        const q = pageQuery(t.db, params, { listing: listing as Listing, anchored: after !== undefined, withPinned: after === undefined, signedIn: false, fetch: 51 }).compile();
        // A prepared statement: the plan of its first runs and the generic one it settles on.
        for (const generic of [false, true]) {
          const plan = await explainPlan(t, q.sql, q.parameters, { generic });
          if (listing === 'new' && after) expect(plan, plan).toMatch(/forum_posts_forum_id_id_index|forum_posts_pkey/);
          else expect(plan, plan).toContain(index);
          // The ranked range is read in index order under its LIMIT (or the windows' Merge
          // Append): the only Sort above it orders the page's joined rows, never the forum.
          const lines = plan.split('\n');
          const scan = lines.findIndex((line) => line.includes(`using ${index}`) || (listing === 'new' && after !== undefined && line.includes('forum_posts_pkey')));
          const parent = lines.slice(0, scan).reverse().find((line) => line.includes('->'));
          expect(parent, plan).toMatch(/Limit|Merge Append/);
          // Pinned posts come from their partial index, not a walk of the forum.
          if (!after) expect(plan, plan).toContain('forum_posts_forum_id_pinned_index');
          if (process.env.SHOW_PLANS) console.log(plan);
        }
      }
    });
  }

  it('the page statement settles on its generic plan: no planning per request (t=month has 33 branches)', async () => {
    for (const opts of [{ sort: 'top', t: 'month' }, { sort: 'hot' }] as const) {
      const plans = await t.db.connection().execute(async (conn) => {
        for (let i = 0; i < 8; i++) await listPosts(conn, null, 'plans-big', { ...opts, limit: 30 });
        return (
          await sql<{ generic: number }>`SELECT max(generic_plans)::int AS generic FROM pg_prepared_statements WHERE statement LIKE ${opts.sort === 'hot' ? '%"hot" desc%' : '%cgraph_day%'}`.execute(conn)
        ).rows[0]!;
      });
      expect(plans.generic, opts.sort).toBeGreaterThan(0);
    }
  });

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
    const second = await listPosts(t.db, owner, 'deep', { sort: 'hot', limit: 100, cursor: first.next_cursor! });
    await t.db.deleteFrom('forum_listings').execute();
    const third = await listPosts(t.db, owner, 'deep', { sort: 'hot', limit: 100, cursor: second.next_cursor! });
    expect(third.data).toHaveLength(100);
    const before = new Set([...first.data, ...second.data].map((post) => post.id));
    expect(third.data.some((post) => before.has(post.id))).toBe(false);
  }, 60_000);

  it('the first page writes nothing (signed in or out); the second records one snapshot, without the posts already shown', async () => {
    const forumId = await makeForum('read-only', 300, 3);
    await shake(forumId, 200);
    const snapshots = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM forum_listings WHERE forum_id = ${forumId}::uuid`.execute(t.db)).rows[0]!.n);
    for (const opts of [{ sort: 'hot' }, { sort: 'top', t: 'all' }, { sort: 'top', t: 'week' }, { sort: 'new' }] as const) {
      for (const viewer of [null, owner]) {
        const page = await listPosts(t.db, viewer, 'read-only', { ...opts, limit: 20 });
        expect(page.data).toHaveLength(20);
        expect(page.next_cursor).not.toBeNull();
      }
    }
    expect(await snapshots()).toBe(0);
    // Nor does it write anything else: a first page in a transaction leaves no transaction id.
    const xid = await t.db.transaction().execute(async (trx) => {
      await listPosts(trx, null, 'read-only', { sort: 'hot', limit: 20 });
      return (await sql<{ xid: string | null }>`SELECT pg_current_xact_id_if_assigned()::text AS xid`.execute(trx)).rows[0]!.xid;
    });
    expect(xid).toBeNull();

    const first = await listPosts(t.db, null, 'read-only', { sort: 'hot', limit: 20 });
    await boostUnseen(forumId, []); // a post of the bottom jumps to the top between the pages
    const second = await listPosts(t.db, null, 'read-only', { sort: 'hot', limit: 20, cursor: first.next_cursor! });
    expect(await snapshots()).toBe(1);
    const shown = new Set(first.data.map((post) => post.id));
    expect(second.data.some((post) => shown.has(post.id))).toBe(false);
    const snapshot = await t.db.selectFrom('forum_listings').select('post_ids').where('forum_id', '=', forumId).executeTakeFirstOrThrow();
    expect(snapshot.post_ids.some((id) => shown.has(id))).toBe(false);
    expect(snapshot.post_ids.slice(0, 20)).toEqual(second.data.map((post) => post.id));
  });

  it('a cursor belongs to its sort: another sort or window is 400 invalid_cursor', async () => {
    await makeForum('cursors', 30);
    const hot = await listPosts(t.db, owner, 'cursors', { sort: 'hot', limit: 10 });
    const top = await listPosts(t.db, owner, 'cursors', { sort: 'top', t: 'all', limit: 10 });
    await expect(listPosts(t.db, owner, 'cursors', { sort: 'new', limit: 10, cursor: hot.next_cursor! })).rejects.toMatchObject({ code: 'invalid_cursor' });
    await expect(listPosts(t.db, owner, 'cursors', { sort: 'top', t: 'week', limit: 10, cursor: top.next_cursor! })).rejects.toMatchObject({ code: 'invalid_cursor' });
    const forged = Buffer.from(JSON.stringify(['k', 'hot', 'NaN-ish', newId(), '', ''])).toString('base64url');
    await expect(listPosts(t.db, owner, 'cursors', { sort: 'hot', limit: 10, cursor: forged })).rejects.toMatchObject({ code: 'invalid_cursor' });
    // A first page's cursor: `<header>.<the ids shown, 16 bytes each>`.
    const [head, packed] = hot.next_cursor!.split('.') as [string, string];
    expect(Buffer.from(packed, 'base64url')).toHaveLength(10 * 16);
    for (const bad of [`${head}.${packed.slice(0, -3)}`, `${head}.`, `${head}.${packed}.${packed}`, `${head}.!!`, `${top.next_cursor!.split('.')[0]}.${packed}`]) {
      await expect(listPosts(t.db, owner, 'cursors', { sort: 'hot', limit: 10, cursor: bad }), bad).rejects.toMatchObject({ code: 'invalid_cursor' });
    }
    expect((await listPosts(t.db, owner, 'cursors', { sort: 'hot', limit: 10, cursor: hot.next_cursor! })).data).toHaveLength(10);
    // `new` pages live only: a first-page or snapshot cursor naming it is forged.
    const forgedNew = Buffer.from(JSON.stringify(['f', 'new', newId(), newId(), '', ''])).toString('base64url');
    for (const bad of [`${forgedNew}.${packed}`, Buffer.from(JSON.stringify(['s', 'new', newId(), '10', newId(), newId()])).toString('base64url')]) {
      await expect(listPosts(t.db, owner, 'cursors', { sort: 'new', limit: 10, cursor: bad }), bad).rejects.toMatchObject({ code: 'invalid_cursor' });
    }
  });
});
