// Listing a forum's posts: sort=hot (the stored Reddit rank), new (id: UUIDv7 is
// time-ordered), top (score, with t=day|week|month|year|all as a window on inserted_at).
// Each sort walks its own index, (forum_id, hot DESC, id DESC), (forum_id, id DESC) or
// (forum_id, score DESC, id DESC), from the cursor's (sort key, id) by a row comparison:
// never OFFSET, never a sort over the forum. Pinned posts come first, on the first page.
//
// Stable paging while scores move: `new` keys never change, so a live keyset cursor is
// exact. hot and top keys move with every vote: a post rising past the cursor between two
// requests would be skipped, one falling behind it shown twice. So the first page of those
// records the order of the listing's first SNAPSHOT_SIZE posts (forum_listings) and the
// cursor points into that snapshot; past its end, paging continues live from the
// snapshot's last (sort key, id). Every cursor also carries the last shown post's key and
// id, so a cursor whose snapshot has expired continues live from there instead of failing.
import { sql, type CompiledQuery } from 'kysely';
import type { Db } from '../../db/database.ts';
import { decodeCursor, encodeCursor } from '../../db/pagination.ts';
import { AppError } from '../../lib/errors.ts';
import { isUuid, newId } from '../../lib/ids.ts';
import { forumAccess } from './forums.ts';
import { postsWithDetails, toPostView, type PostView } from './posts.ts';

export const POST_SORTS = ['hot', 'new', 'top'] as const;
export type PostSort = (typeof POST_SORTS)[number];
export const TOP_WINDOWS = ['day', 'week', 'month', 'year', 'all'] as const;
export type TopWindow = (typeof TOP_WINDOWS)[number];
/** Posts a hot/top snapshot holds: Reddit's listing depth. */
export const SNAPSHOT_SIZE = 1000;
/** How long a snapshot serves its cursors; older ones are swept as new ones are written. */
const SNAPSHOT_TTL = '1 hour';
const SWEEP_EVERY = 20;

const WINDOW_INTERVAL: Record<Exclude<TopWindow, 'all'>, string> = { day: '1 day', week: '7 days', month: '1 month', year: '1 year' };

/** A listing: the sort and, for top, its window; also the snapshot's `sort` column. */
export type Listing = 'hot' | 'new' | `top_${TopWindow}`;

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

/** A listing's statement: run it, or compile it (EXPLAIN in tests and benchmarks). */
export interface RankedQuery {
  execute(): Promise<RankedRow[]>;
  compile(): CompiledQuery;
}

/**
 * The ranked ids (and sort keys) of a forum's unpinned, live posts after (key, id): the
 * statement each sort's index serves (src/db/explain.ts names the first-page forms;
 * ranking.test.ts checks their plans).
 */
export function rankedIdsQuery(db: Db, forumId: string, listing: Listing, after: { key: string; id: string } | undefined, limit: number): RankedQuery {
  const window = listing.startsWith('top_') ? (listing.slice(4) as TopWindow) : 'all';
  if (window !== 'all' && window !== 'year') {
    const raw = windowedTopQuery(db, forumId, window, after, limit);
    return { execute: async () => (await raw.execute(db)).rows, compile: () => raw.compile(db) };
  }
  const query = rankedIdsBuilder(db, forumId, listing, after, limit);
  return { execute: () => query.execute(), compile: () => query.compile() };
}

function rankedIdsBuilder(db: Db, forumId: string, listing: Listing, after: { key: string; id: string } | undefined, limit: number) {
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
    .where('is_pinned', '=', false)
    .where('deleted_at', 'is', null);
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

/**
 * top with t=day|week|month: one branch per day of the window (a range of
 * forum_posts_forum_id_day_score_id_index, already in score order), merged by PostgreSQL's
 * Merge Append, which reads each branch only as far as the merged page needs. The branches
 * span a day more on each side than the window (clock skew between app and database); the
 * window itself is `inserted_at >= now() - interval`, by the database's clock.
 */
function windowedTopQuery(db: Db, forumId: string, window: keyof typeof WINDOW_DAYS, after: { key: string; id: string } | undefined, limit: number) {
  const today = Math.floor(Date.now() / DAY_MS);
  const branches = [];
  for (let day = today + 1; day >= today - WINDOW_DAYS[window] - 1; day--) {
    let branch = db
      .selectFrom('forum_posts')
      .select(['id', 'score'])
      .where('forum_id', '=', forumId)
      .where(sql<number>`cgraph_day(inserted_at)`, '=', day)
      .where('inserted_at', '>=', sql<Date>`now() - ${WINDOW_INTERVAL[window]}::interval`)
      .where('is_pinned', '=', false)
      .where('deleted_at', 'is', null);
    if (after) branch = branch.where((eb) => eb(eb.refTuple('score', 'id'), '<', eb.tuple(after.key as never, after.id)));
    branches.push(sql`(${branch.orderBy('score', 'desc').orderBy('id', 'desc').limit(limit)})`);
  }
  return sql<RankedRow>`SELECT id, score::text AS sort_key FROM (${sql.join(branches, sql` UNION ALL `)}) AS w ORDER BY score DESC, id DESC LIMIT ${limit}`;
}

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

// A cursor is [kind, listing, a, b, lastKey, lastId]: kind 's' = snapshot a at position b;
// kind 'k' = live, after (a, b) = (sort key, id). lastKey/lastId: the last post shown.
type Cursor =
  | { kind: 'snapshot'; listing: Listing; snapshotId: string; position: number; last: { key: string; id: string } }
  | { kind: 'live'; listing: Listing; after: { key: string; id: string } };

function invalidCursor(): AppError {
  return new AppError('invalid_cursor', 'the cursor is not valid for this list', 400);
}

function parseCursor(cursor: string, listing: Listing): Cursor {
  const [kind, cursorListing, a, b, lastKey, lastId] = decodeCursor(cursor, 6) as [string, string, string, string, string, string];
  if (cursorListing !== listing) throw invalidCursor();
  const keyOk = (key: string) => (keyColumn(listing) === 'id' ? isUuid(key) : /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(key));
  if (kind === 's' && isUuid(a) && /^\d{1,4}$/.test(b) && keyOk(lastKey) && isUuid(lastId)) {
    return { kind: 'snapshot', listing, snapshotId: a, position: Number(b), last: { key: lastKey, id: lastId } };
  }
  if (kind === 'k' && keyOk(a) && isUuid(b)) return { kind: 'live', listing, after: { key: a, id: b } };
  throw invalidCursor();
}

const liveCursor = (listing: Listing, key: string, id: string) => encodeCursor(['k', listing, key, id, '', '']);

export interface ListPostsOptions {
  sort: PostSort;
  t?: TopWindow | undefined;
  limit: number;
  cursor?: string | undefined;
}

export async function listPosts(
  db: Db,
  viewerId: string | null,
  slug: string,
  opts: ListPostsOptions,
): Promise<{ data: PostView[]; next_cursor: string | null }> {
  const { forum } = await forumAccess(db, { slug }, viewerId);
  const listing = listingOf(opts.sort, opts.t);
  const cursor = opts.cursor ? parseCursor(opts.cursor, listing) : undefined;
  if (cursor?.kind === 'snapshot') {
    const page = await snapshotPage(db, viewerId, forum.id, cursor, opts.limit);
    if (page) return page;
    return livePage(db, viewerId, forum.id, listing, cursor.last, opts.limit);
  }
  if (cursor?.kind === 'live') return livePage(db, viewerId, forum.id, listing, cursor.after, opts.limit);
  return firstPage(db, viewerId, forum.id, listing, opts.limit);
}

async function livePage(db: Db, viewerId: string | null, forumId: string, listing: Listing, after: { key: string; id: string } | undefined, limit: number) {
  let rows: Array<{ id: string; sort_key: string }>;
  try {
    rows = await rankedIdsQuery(db, forumId, listing, after, limit + 1).execute();
  } catch (error) {
    if (/^22/.test(String((error as { code?: unknown }).code))) throw invalidCursor();
    throw error;
  }
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: await postsByIds(db, viewerId, page.map((row) => row.id)),
    next_cursor: rows.length > limit && last ? liveCursor(listing, last.sort_key, last.id) : null,
  };
}

/**
 * Pinned posts (newest pinned first), then the first page; hot/top record a snapshot.
 * Independent statements run side by side on two connections: the pinned posts with the
 * ranking, then the page's posts with the snapshot's insert.
 */
async function firstPage(db: Db, viewerId: string | null, forumId: string, listing: Listing, limit: number) {
  const pinnedQuery = postsWithDetails(db, viewerId)
    .where('p.forum_id', '=', forumId)
    .where('p.is_pinned', '=', true)
    .where('p.deleted_at', 'is', null)
    .orderBy('p.id', 'desc')
    .limit(100)
    .execute();
  const now = new Date();
  if (listing === 'new') {
    const [pinned, page] = await Promise.all([pinnedQuery, livePage(db, viewerId, forumId, listing, undefined, limit)]);
    return { data: [...pinned.map((row) => toPostView(row, now)), ...page.data], next_cursor: page.next_cursor };
  }
  const [pinned, ranked] = await Promise.all([pinnedQuery, rankedIdsQuery(db, forumId, listing, undefined, SNAPSHOT_SIZE + 1).execute()]);
  const shown = ranked.slice(0, limit);
  const posts = postsByIds(db, viewerId, shown.map((row) => row.id));
  if (ranked.length <= limit) return { data: [...pinned.map((row) => toPostView(row, now)), ...(await posts)], next_cursor: null };
  const snapshot = ranked.slice(0, SNAPSHOT_SIZE);
  const end = ranked.length > SNAPSHOT_SIZE ? snapshot.at(-1)! : undefined;
  const snapshotId = newId();
  const [page] = await Promise.all([
    posts,
    db
      .insertInto('forum_listings')
      .values({ id: snapshotId, forum_id: forumId, sort: listing, post_ids: snapshot.map((row) => row.id), last_key: end?.sort_key ?? null })
      .execute(),
  ]);
  // The sweep runs with one snapshot in SWEEP_EVERY (on average), removing up to 1000
  // expired rows: enough to keep up with any rate of snapshots, without a statement more
  // on every first page.
  if (Math.random() * SWEEP_EVERY < 1) {
    await db
      .deleteFrom('forum_listings')
      .where('id', 'in', (eb) =>
        eb.selectFrom('forum_listings').select('id').where('inserted_at', '<', sql<Date>`now() - ${SNAPSHOT_TTL}::interval`).limit(1000),
      )
      .execute();
  }
  const last = shown.at(-1)!;
  return {
    data: [...pinned.map((row) => toPostView(row, now)), ...page],
    next_cursor: encodeCursor(['s', listing, snapshotId, String(shown.length), last.sort_key, last.id]),
  };
}

/** The next page of a snapshot; undefined when the snapshot is gone (expired). */
async function snapshotPage(
  db: Db,
  viewerId: string | null,
  forumId: string,
  cursor: Extract<Cursor, { kind: 'snapshot' }>,
  limit: number,
): Promise<{ data: PostView[]; next_cursor: string | null } | undefined> {
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
    return { data, next_cursor: encodeCursor(['s', cursor.listing, cursor.snapshotId, String(position), lastKey, lastId]) };
  }
  return { data, next_cursor: row.last_key === null ? null : liveCursor(cursor.listing, row.last_key, lastId) };
}

function keyOf(post: PostView, listing: Listing): string {
  const column = keyColumn(listing);
  return column === 'id' ? post.id : column === 'hot' ? String(post.hot) : String(post.score);
}
