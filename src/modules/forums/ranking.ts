// Listing a forum's posts: sort=hot (the stored Reddit rank), new (id: UUIDv7 is
// time-ordered), top (score, with t=day|week|month|year|all as a window on inserted_at).
// Each sort walks its own index, (forum_id, hot DESC, id DESC), (forum_id, id DESC) or
// (forum_id, score DESC, id DESC), from the cursor's (sort key, id) by a row comparison:
// never OFFSET, never a sort over the forum. Pinned posts come first, on the first page.
// A page is one statement: the ranked ids (and on the first page the pinned ones) as a
// subquery, the posts with their details joined to them.
//
// Stable paging while scores move: `new` keys never change, so a live keyset cursor is
// exact. hot and top keys move with every vote: a post rising past the cursor between two
// requests would be skipped, one falling behind it shown twice. The first page only reads;
// its cursor carries the ids it showed. The second page records the listing as it is then,
// without those ids, in a snapshot of its next SNAPSHOT_SIZE posts (forum_listings), and
// later cursors point into that snapshot; past its end, paging continues live from the
// snapshot's last (sort key, id). Snapshot cursors also carry the last shown post's key
// and id, so one whose snapshot has expired continues live from there instead of failing.
import { sql, type CompiledQuery, type Expression, type SqlBool } from 'kysely';
import type { Db } from '../../db/database.ts';
import { prepareShapes } from '../../db/prepared.ts';
import { NotFoundError } from '../../lib/errors.ts';
import { isUuid, newId } from '../../lib/ids.ts';
import { canSee, forumAccess, roleColumns, SLUG, visibleTo } from './forums.ts';
import { decodeListingCursor, encodeListingCursor, invalidCursor, type After, type Listing, type ListingCursor } from './listing-cursors.ts';
import { postsWithDetails, toPostView, type PostRow, type PostView } from './posts.ts';

export type { Listing } from './listing-cursors.ts';

export const POST_SORTS = ['hot', 'new', 'top'] as const;
export type PostSort = (typeof POST_SORTS)[number];
export const TOP_WINDOWS = ['day', 'week', 'month', 'year', 'all'] as const;
export type TopWindow = (typeof TOP_WINDOWS)[number];
/** Posts a hot/top snapshot holds: Reddit's listing depth. */
export const SNAPSHOT_SIZE = 1000;
/** Pinned posts shown ahead of the first page, at most. */
const PINNED_MAX = 100;
/** How long a snapshot serves its cursors; older ones are swept as new ones are written. */
const SNAPSHOT_TTL = '1 hour';
const SWEEP_EVERY = 20;

const WINDOW_INTERVAL: Record<Exclude<TopWindow, 'all'>, string> = { day: '1 day', week: '7 days', month: '1 month', year: '1 year' };

export function listingOf(sort: PostSort, t: TopWindow | undefined): Listing {
  return sort === 'top' ? `top_${t ?? 'day'}` : sort;
}

const KEY_COLUMN = { hot: 'hot', new: 'id', top: 'score' } as const;

function keyColumn(listing: Listing) {
  return KEY_COLUMN[listing.startsWith('top_') ? 'top' : (listing as 'hot' | 'new')];
}

export interface RankedRow {
  id: string;
  /** The sort key as PostgreSQL prints it (exact for a float8; a uuid for `new`). */
  sort_key: string;
}

/** A forum's id, or a reference to it in an enclosing statement (`f.id`). */
type ForumRef = string | Expression<string>;
/** A LIMIT: a value (a parameter), or a literal in the SQL (see pageStatement). */
type Limit = number | Expression<number>;

/** A listing's statement: run it, or compile it (EXPLAIN in tests and benchmarks). */
export interface RankedQuery {
  execute(): Promise<RankedRow[]>;
  compile(): CompiledQuery;
  /** The statement as a parenthesised subquery, to embed. */
  expression: Expression<RankedRow>;
}

/**
 * The ranked ids (and sort keys) of a forum's unpinned, live posts after (key, id), less
 * `exclude`: the statement each sort's index serves (src/db/explain.ts names the
 * first-page forms; ranking.test.ts checks their plans).
 */
export function rankedIdsQuery(
  db: Db,
  forumId: ForumRef,
  listing: Listing,
  after: After | undefined,
  limit: Limit,
  opts: { exclude?: readonly string[]; today?: number } = {},
): RankedQuery {
  const window = listing.startsWith('top_') ? (listing.slice(4) as TopWindow) : 'all';
  const exclude = opts.exclude ?? [];
  if (window !== 'all' && window !== 'year') {
    const raw = windowedTopQuery(db, forumId, window, after, limit, exclude, opts.today ?? utcDay());
    return { execute: async () => (await raw.execute(db)).rows, compile: () => raw.compile(db), expression: sql<RankedRow>`(${raw})` };
  }
  const query = rankedIdsBuilder(db, forumId, listing, after, limit, exclude);
  return { execute: () => query.execute(), compile: () => query.compile(), expression: query };
}

const notIn = (exclude: readonly string[]) => sql<SqlBool>`id <> ALL(${[...exclude]}::uuid[])`;

function rankedIdsBuilder(db: Db, forumId: ForumRef, listing: Listing, after: After | undefined, limit: Limit, exclude: readonly string[]) {
  const column = keyColumn(listing);
  // `new` orders by id, which the primary key also provides: for a first page the planner
  // may walk the primary key backwards from the newest post of all, filtering out every
  // other forum's posts (for a quiet forum, nearly the whole table). Stating the forum as a
  // one-value range instead of an equality keeps forum_id in the ORDER BY (an equality
  // makes it redundant there), and only (forum_id, id DESC) gives that order. Later pages
  // keep the equality: with `id < $after` it positions the scan at the cursor (a range on
  // forum_id would not), and walking back from the cursor is local either way.
  const firstNewPage = column === 'id' && !after;
  let query = db
    .selectFrom('forum_posts')
    .select(['id', sql<string>`${sql.ref(column)}::text`.as('sort_key')])
    .$if(firstNewPage, (q) => q.where('forum_id', '>=', forumId).where('forum_id', '<=', forumId))
    .$if(!firstNewPage, (q) => q.where('forum_id', '=', forumId))
    .where('is_pinned', '=', sql.lit(false))
    .where('deleted_at', 'is', null)
    .$if(exclude.length > 0, (q) => q.where(notIn(exclude)));
  // top t=year: most of a forum's posts are in its last year, so walking the score index
  // and dropping the older ones reads little more than the page itself.
  if (listing === 'top_year') query = query.where('inserted_at', '>=', sql<Date>`now() - ${WINDOW_INTERVAL.year}::interval`);
  if (after) {
    query =
      column === 'id'
        ? query.where('id', '<', after.id)
        : query.where((eb) => eb(eb.refTuple(column, 'id'), '<', eb.tuple(after.key as never, after.id)));
  }
  if (firstNewPage) return query.orderBy('forum_id').orderBy('id', 'desc').limit(limit);
  return query.orderBy(column, 'desc').orderBy('id', 'desc').limit(limit);
}

const WINDOW_DAYS = { day: 1, week: 7, month: 31 } as const;
const DAY_MS = 86_400_000;
/** Whole UTC days since the epoch: cgraph_day() of now. */
const utcDay = () => Math.floor(Date.now() / DAY_MS);

/**
 * top with t=day|week|month: one branch per day of the window (a range of
 * forum_posts_forum_id_day_score_id_index, already in score order), merged by PostgreSQL's
 * Merge Append, which reads each branch only as far as the merged page needs. The branches
 * span a day more on each side than the window (clock skew between app and database); the
 * window itself is `inserted_at >= now() - interval`, by the database's clock.
 */
function windowedTopQuery(db: Db, forumId: ForumRef, window: keyof typeof WINDOW_DAYS, after: After | undefined, limit: Limit, exclude: readonly string[], today: number) {
  const branches = [];
  // Days today + 1 back to today - window - 1, as offsets from `today` (a parameter of a
  // prepared statement, so the SQL does not change with the date).
  for (let back = -1; back <= WINDOW_DAYS[window] + 1; back++) {
    let branch = db
      .selectFrom('forum_posts')
      .select(['id', 'score'])
      .where('forum_id', '=', forumId)
      .where(sql<number>`cgraph_day(inserted_at)`, '=', sql<number>`${today}::int - ${back}::int`)
      .where('inserted_at', '>=', sql<Date>`now() - ${WINDOW_INTERVAL[window]}::interval`)
      .where('is_pinned', '=', sql.lit(false))
      .where('deleted_at', 'is', null)
      .$if(exclude.length > 0, (q) => q.where(notIn(exclude)));
    if (after) branch = branch.where((eb) => eb(eb.refTuple('score', 'id'), '<', eb.tuple(after.key as never, after.id)));
    branches.push(sql`(${branch.orderBy('score', 'desc').orderBy('id', 'desc').limit(limit)})`);
  }
  return sql<RankedRow>`SELECT id, score::text AS sort_key FROM (${sql.join(branches, sql` UNION ALL `)}) AS w ORDER BY score DESC, id DESC LIMIT ${limit}`;
}

export type PageParams = {
  slug: string;
  viewer: string | null;
  afterKey: string | null;
  afterId: string | null;
  /** utcDay(): the windowed tops' days are counted back from it */
  today: number;
};

/** What decides a page statement's SQL (each shape is one prepared statement). */
export interface PageShape {
  listing: Listing;
  anchored: boolean;
  withPinned: boolean;
  signedIn: boolean;
  /** ranked ids to read: one of FETCH_SIZES, at least the page's size + 1 */
  fetch: number;
}

/**
 * The ranked range's LIMIT is a literal, rounded up to one of these (the extra rows are
 * dropped): with a parameter there, PostgreSQL's generic plan assumes a LIMIT of a tenth of
 * the forum, finds that dearer than a custom plan, and plans every execution afresh (for
 * t=month's 33 branches, 3–20 ms of planning on the loaded 2-core machine, against 0.1).
 */
const FETCH_SIZES = [11, 26, 51, 101] as const;

/**
 * One page in one statement, with the forum: the forum by slug and the viewer's roles in
 * it, and (LEFT JOIN LATERAL, so an empty or hidden forum still answers its row) the posts
 * with their details whose ids the ranked subquery gives (limit + 1 of them: the extra one
 * tells whether there is more), on a first page with the pinned posts (newest first) ahead.
 * The posts are read only if the forum is visible to the viewer (the visibility rule is a
 * one-time filter of the subquery); the caller still applies canSee to the forum's row.
 * The ORDER BY re-sorts only those rows, by the columns the subquery ranked them by, read
 * in the same snapshot.
 */
export function pageQuery(db: Db, p: PageParams, shape: PageShape) {
  const { listing } = shape;
  const viewer = shape.signedIn ? p.viewer : null;
  const forumId = sql.ref<string>('f.id');
  // `new` pages by id alone (reading afterKey would make it an unused parameter).
  const after = shape.anchored ? { key: keyColumn(listing) === 'id' ? p.afterId! : p.afterKey!, id: p.afterId! } : undefined;
  // Only the windowed tops read `today` (an unused parameter would be refused).
  const ranked = rankedIdsQuery(db, forumId, listing, after, sql.lit(shape.fetch), /^top_(day|week|month)$/.test(listing) ? { today: p.today } : {});
  const pinned = db
    .selectFrom('forum_posts')
    .select('id')
    .where('forum_id', '=', forumId)
    // Literals: the generic plan of a prepared statement uses the partial index
    // (WHERE is_pinned) only if `true` is in the SQL; with parameters it walks the forum.
    .where('is_pinned', '=', sql.lit(true))
    .where('deleted_at', 'is', null)
    .orderBy('id', 'desc')
    .limit(sql.lit(PINNED_MAX));
  const ids = shape.withPinned
    ? sql<string>`(SELECT id FROM ${ranked.expression} AS r UNION ALL SELECT id FROM ${pinned} AS pinned)`
    : sql<string>`(SELECT id FROM ${ranked.expression} AS r)`;
  const posts = postsWithDetails(db, viewer).where(visibleTo(viewer)).where('p.id', 'in', ids);
  const [isModerator, isMember] = roleColumns(viewer);
  const column = keyColumn(listing);
  let query = db
    .selectFrom('forums as f')
    .leftJoinLateral(posts.as('p'), (join) => join.onTrue())
    .select(['f.id as f_id', 'f.is_public as f_is_public', 'f.owner_id as f_owner_id', isModerator, isMember])
    .selectAll('p')
    .where('f.slug', '=', p.slug)
    .orderBy('p.is_pinned', 'desc');
  if (column !== 'id') query = query.orderBy(sql`CASE WHEN p.is_pinned THEN NULL ELSE ${sql.ref(`p.${column}`)} END`, (ob) => ob.desc().nullsLast());
  return query.orderBy('p.id', 'desc');
}

// One prepared (named, server-side) statement per shape: PostgreSQL plans each once per
// connection instead of on every request (planning took longer than running it).
const pageStatement = prepareShapes(
  (shape: PageShape) => `${shape.listing}/${shape.anchored}/${shape.withPinned}/${shape.signedIn}/${shape.fetch}`,
  (db, p: PageParams, shape) => pageQuery(db, p, shape),
);

async function pageOfPosts(db: Db, viewerId: string | null, slug: string, listing: Listing, after: After | undefined, limit: number, withPinned: boolean) {
  if (!SLUG.test(slug)) throw new NotFoundError('forum');
  const fetch = FETCH_SIZES.find((size) => size > limit) ?? limit + 1;
  const statement = pageStatement({ listing, anchored: after !== undefined, withPinned, signedIn: viewerId !== null, fetch });
  const params: PageParams = { slug, viewer: viewerId, afterKey: after?.key ?? null, afterId: after?.id ?? null, today: utcDay() };
  let rows;
  try {
    rows = await statement(db, params);
  } catch (error) {
    // A cursor that decodes but holds a key its column cannot take.
    if (after && /^22/.test(String((error as { code?: unknown }).code))) throw invalidCursor();
    throw error;
  }
  const gate = rows[0];
  if (!gate) throw new NotFoundError('forum');
  const isOwner = viewerId !== null && gate.f_owner_id === viewerId;
  if (!canSee({ forum: { is_public: gate.f_is_public }, isOwner, isModerator: isOwner || gate.is_moderator, isMember: gate.is_member })) throw new NotFoundError('forum');
  const now = new Date();
  const shown = rows.flatMap((row) => (row.id === null ? [] : [toPostView(row as PostRow, now)]));
  const first = shown.findIndex((post) => !post.is_pinned);
  const ranks = first === -1 ? [] : shown.slice(first);
  return { pinned: first === -1 ? shown : shown.slice(0, first), posts: ranks.slice(0, limit), more: ranks.length > limit };
}

function keyOf(post: PostView, listing: Listing): string {
  const column = keyColumn(listing);
  return column === 'id' ? post.id : column === 'hot' ? String(post.hot) : String(post.score);
}

const lastOf = (posts: PostView[], listing: Listing): After | undefined => {
  const last = posts.at(-1);
  return last ? { key: keyOf(last, listing), id: last.id } : undefined;
};

async function postsByIds(db: Db, viewerId: string | null, ids: string[]): Promise<PostView[]> {
  if (ids.length === 0) return [];
  const rows = await postsWithDetails(db, viewerId).where('p.id', 'in', ids).where('p.deleted_at', 'is', null).execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  const now = new Date();
  return ids.flatMap((id) => {
    const row = byId.get(id);
    return row ? [toPostView(row, now)] : [];
  });
}

export interface ListPostsOptions {
  sort: PostSort;
  t?: TopWindow | undefined;
  limit: number;
  cursor?: string | undefined;
}

type ListPage = { data: PostView[]; next_cursor: string | null };

const isNumber = (key: string) => /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(key);

export async function listPosts(db: Db, viewerId: string | null, slug: string, opts: ListPostsOptions): Promise<ListPage> {
  const listing = listingOf(opts.sort, opts.t);
  const cursor = opts.cursor ? decodeListingCursor(opts.cursor, listing, keyColumn(listing) === 'id' ? isUuid : isNumber) : undefined;
  // First and live pages read the forum in their own statement; the others start from it.
  if (cursor === undefined) return firstPage(db, viewerId, slug, listing, opts.limit);
  if (cursor.kind === 'live') return livePage(db, viewerId, slug, listing, cursor.after, opts.limit);
  const { forum } = await forumAccess(db, { slug }, viewerId);
  if (cursor.kind === 'first') return recordSnapshot(db, viewerId, forum.id, cursor, opts.limit);
  return (await snapshotPage(db, viewerId, forum.id, cursor, opts.limit)) ?? livePage(db, viewerId, slug, listing, cursor.last, opts.limit);
}

async function livePage(db: Db, viewerId: string | null, slug: string, listing: Listing, after: After, limit: number): Promise<ListPage> {
  const page = await pageOfPosts(db, viewerId, slug, listing, after, limit, false);
  const last = lastOf(page.posts, listing);
  return { data: page.posts, next_cursor: page.more && last ? encodeListingCursor({ kind: 'live', listing, after: last }) : null };
}

/**
 * Pinned posts, then the first page: one statement, nothing written. For hot and top the
 * cursor carries the ids shown, which the snapshot of the second page leaves out.
 */
async function firstPage(db: Db, viewerId: string | null, slug: string, listing: Listing, limit: number): Promise<ListPage> {
  const page = await pageOfPosts(db, viewerId, slug, listing, undefined, limit, true);
  const data = [...page.pinned, ...page.posts];
  const last = lastOf(page.posts, listing);
  if (!page.more || !last) return { data, next_cursor: null };
  const cursor: ListingCursor =
    listing === 'new' ? { kind: 'live', listing, after: last } : { kind: 'first', listing, shown: page.posts.map((post) => post.id), last };
  return { data, next_cursor: encodeListingCursor(cursor) };
}

/**
 * The second page of hot/top: the listing as it is now, less the posts the first page
 * showed, is recorded (its first SNAPSHOT_SIZE ids) and served from position 0. A post
 * that moved between the two requests is therefore shown once: on the first page, or in
 * the snapshot. When the rest fits in this page, nothing is recorded.
 */
async function recordSnapshot(db: Db, viewerId: string | null, forumId: string, cursor: Extract<ListingCursor, { kind: 'first' }>, limit: number): Promise<ListPage> {
  const { listing } = cursor;
  // One statement: the ranked ids, the snapshot written from them inside PostgreSQL (the
  // 1000 ids never travel to the app and back) when more than this page remains, and this
  // page's ids and keys. hot and score keys are numbers: their text sorts as float8.
  const ranked = rankedIdsQuery(db, forumId, listing, undefined, SNAPSHOT_SIZE + 1, { exclude: cursor.shown });
  const snapshotId = newId();
  const { rows } = await sql<{ ids: string[] | null; keys: string[] | null; snapshot: string | null }>`
    WITH ranked AS MATERIALIZED (
      SELECT r.id, r.sort_key, row_number() OVER (ORDER BY r.sort_key::float8 DESC, r.id DESC) AS n FROM ${ranked.expression} AS r
    ), snapshot AS (
      INSERT INTO forum_listings (id, forum_id, sort, post_ids, last_key)
      SELECT ${snapshotId}::uuid, ${forumId}::uuid, ${listing}::text,
             array_agg(id ORDER BY n) FILTER (WHERE n <= ${SNAPSHOT_SIZE}),
             CASE WHEN count(*) > ${SNAPSHOT_SIZE} THEN (array_agg(sort_key ORDER BY n))[${SNAPSHOT_SIZE}] END
      FROM ranked HAVING count(*) > ${limit}
      RETURNING id
    )
    SELECT array_agg(id ORDER BY n) FILTER (WHERE n <= ${limit}) AS ids, array_agg(sort_key ORDER BY n) FILTER (WHERE n <= ${limit}) AS keys,
           (SELECT id FROM snapshot) AS snapshot
    FROM ranked`.execute(db);
  const { ids, keys, snapshot } = rows[0]!;
  const data = await postsByIds(db, viewerId, ids ?? []);
  if (snapshot === null) return { data, next_cursor: null };
  // The sweep runs with one snapshot in SWEEP_EVERY (on average), removing up to 1000
  // expired rows: enough to keep up with any rate of snapshots, without a statement more
  // on every second page.
  if (Math.random() * SWEEP_EVERY < 1) {
    await db
      .deleteFrom('forum_listings')
      .where('id', 'in', (eb) =>
        eb.selectFrom('forum_listings').select('id').where('inserted_at', '<', sql<Date>`now() - ${SNAPSHOT_TTL}::interval`).limit(1000),
      )
      .execute();
  }
  return {
    data,
    next_cursor: encodeListingCursor({ kind: 'snapshot', listing, snapshotId, position: ids!.length, last: { key: keys!.at(-1)!, id: ids!.at(-1)! } }),
  };
}

/** The next page of a snapshot; undefined when the snapshot is gone (expired). */
async function snapshotPage(
  db: Db,
  viewerId: string | null,
  forumId: string,
  cursor: Extract<ListingCursor, { kind: 'snapshot' }>,
  limit: number,
): Promise<ListPage | undefined> {
  // Only the slice of the array this page needs leaves the database (arrays are 1-based).
  const row = await db
    .selectFrom('forum_listings')
    .select([
      sql<string[]>`post_ids[${cursor.position + 1}:${cursor.position + limit}]`.as('ids'),
      sql<number>`cardinality(post_ids)`.as('size'),
      'last_key',
    ])
    .where('id', '=', cursor.snapshotId)
    .where('forum_id', '=', forumId)
    .where('sort', '=', cursor.listing)
    .executeTakeFirst();
  if (!row) return undefined;
  const ids = row.ids;
  const data = await postsByIds(db, viewerId, ids);
  const position = cursor.position + ids.length;
  const lastId = ids.at(-1) ?? cursor.last.id;
  if (position < row.size) {
    // The last shown post's key as of the snapshot is not kept; its current key serves a
    // fallback after expiry well enough (it only decides where live paging resumes).
    const lastKey = data.at(-1)?.id === lastId ? keyOf(data.at(-1)!, cursor.listing) : cursor.last.key;
    return { data, next_cursor: encodeListingCursor({ kind: 'snapshot', listing: cursor.listing, snapshotId: cursor.snapshotId, position, last: { key: lastKey, id: lastId } }) };
  }
  return { data, next_cursor: row.last_key === null ? null : encodeListingCursor({ kind: 'live', listing: cursor.listing, after: { key: row.last_key, id: lastId } }) };
}
