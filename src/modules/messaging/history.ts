// History: keyset pages of a container's messages, newest first, for both locations
// (location.ts). A page is ONE statement, prepared once per shape and rendered as JSON by
// PostgreSQL (docs/messaging.md "History").
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../db/database.ts';
import { decodeCursor, encodeCursor, MAX_PAGE_SIZE } from '../../db/pagination.ts';
import { prepareShapes } from '../../db/prepared.ts';
import { isoText, renderedPage } from '../../db/rendered.ts';
import { AppError, ValidationError } from '../../lib/errors.ts';
import { isUuid } from '../../lib/ids.ts';
import { RenderedJson } from '../../lib/rendered-json.ts';
import type { MessageLocation } from './location.ts';
import { attachmentsOf, containerRef, from, reactionsOf, type MessageView } from './messages.ts';

export interface HistoryOptions {
  before?: string | undefined;
  after?: string | undefined;
  cursor?: string | undefined;
  limit: number;
  /**
   * An access condition evaluated once in the same statement (an InitPlan): no rows unless
   * it holds. Lets the owning context fold its "may read" check into the page's query, and
   * only ask again, to tell "no access" from "no messages", when the page comes back empty.
   * Built from the statement's parameters (the page's statement is prepared once per shape),
   * so it must be one constant function per use, not a closure made per request.
   */
  guard?: HistoryGuard | undefined;
  /** The guard's own parameter (a version the owning context decided at, …), if it takes one. */
  guardArg?: string | number | undefined;
}

export type HistoryGuard = (p: { containerId: string; viewerId: string; guardArg: unknown }) => RawBuilder<boolean>;

export interface MessagePage {
  data: MessageView[];
  next_cursor: string | null;
}

function invalidCursor(): AppError {
  return new AppError('invalid_cursor', 'the cursor is not valid for this list', 400);
}

interface RangeOptions {
  direction: 'older' | 'newer';
  anchor?: string | undefined;
  limit: number;
  guard?: HistoryGuard | undefined;
  guardArg?: (() => unknown) | undefined;
}

/** One history range of messages joined to their sender, without a select list. */
function historyRange(
  db: Db,
  loc: MessageLocation,
  containerId: string,
  viewerId: string,
  opts: RangeOptions,
) {
  // `container = ANY(ARRAY[…])` rather than `= …`, with the container first in the ORDER
  // BY: PostgreSQL drops an ORDER BY column fixed by `=`, and then may walk the primary key
  // backwards filtering by container (it does, from its statistics, for a conversation that
  // holds a large share of all messages: a scan through every newer message of the other
  // conversations). With ANY the container stays in the ORDER BY, which only the
  // (container, id) index provides without a sort.
  //
  // The container, the anchor and the limit are `(SELECT $n)`, values the planner cannot
  // see: one plan serves every page, so a prepared page statement's custom plans (its first
  // five runs) cost exactly what its generic plan costs plus planning, and PostgreSQL
  // settles on the generic plan. Seeing them, it estimated each container from its
  // statistics, often found the generic plan dearer, and planned every page anew (0.34 ms
  // of planning beside 0.64 ms of execution for a newest page at 10 million messages). An
  // unknown limit is also what keeps the plan an ordered walk of the (container, id) index
  // for a container of any size: the planner takes it for a tenth of the rows, so reading
  // the first few in order is always cheaper than reading all and sorting them (with a
  // literal LIMIT above the rows it expected, it chose the latter for small averages).
  let query = from(db, loc)
    .leftJoin('users as u', 'u.id', 'm.sender_id')
    .where(sql<boolean>`${sql.ref(containerRef(loc))} = ANY(ARRAY[(SELECT ${containerId}::uuid)])`);
  if (opts.anchor !== undefined) {
    query = query.where('m.id', opts.direction === 'older' ? '<' : '>', sql<string>`(SELECT ${opts.anchor}::uuid)`);
  }
  if (opts.guard) {
    // A getter: a guard that takes no parameter must not touch it (prepare() refuses a
    // parameter stand-in that the SQL does not use).
    const guardArg = opts.guardArg;
    query = query.where(opts.guard({ containerId, viewerId, get guardArg() { return guardArg?.(); } }));
  }
  const direction = opts.direction === 'older' ? 'desc' : 'asc';
  return query.orderBy(containerRef(loc), direction).orderBy('m.id', direction).limit(sql<number>`(SELECT ${opts.limit}::int)`);
}

/** toMessageView in SQL: the same fields, in the same order, for a row of historyRange. */
function messageJson(loc: MessageLocation, viewerId: string) {
  return sql<unknown>`json_build_object(
    'id', m.id, 'seq', m.seq,
    'sender', CASE WHEN m.sender_id IS NOT NULL AND u.username IS NOT NULL THEN json_build_object(
      'id', m.sender_id, 'username', u.username, 'display_name', u.display_name, 'avatar_url', u.avatar_url) END,
    'content', CASE WHEN m.deleted_at IS NULL THEN m.content ELSE '' END,
    'type', m.type, 'reply_to_id', m.reply_to_id, 'nonce', m.nonce,
    'edited_at', ${isoText('m.edited_at')}, 'deleted', m.deleted_at IS NOT NULL, 'deleted_at', ${isoText('m.deleted_at')},
    'reactions', CASE WHEN m.deleted_at IS NULL THEN ${reactionsOf(loc, viewerId)} ELSE '[]'::json END,
    'attachments', CASE WHEN m.deleted_at IS NULL THEN ${attachmentsOf(loc)} ELSE '[]'::json END,
    'inserted_at', ${isoText('m.inserted_at')}, 'updated_at', ${isoText('m.updated_at')})`;
}

export interface PageParams extends Record<string, unknown> {
  containerId: string;
  viewerId: string;
  /** The id the page starts after (exclusive); unused by a first page's statement. */
  anchor: string | undefined;
  limit: number;
  /** rows the range reads: limit + 1 (the row after the page tells whether there is a next one) */
  fetch: number;
  /** HistoryOptions.guardArg (null without one). */
  guardArg: string | number | null;
}

/**
 * The page's statement: the range's first `fetch` rows, numbered in range order, rendered
 * newest first as one JSON array (the first `limit` of them) with the id the next cursor
 * continues from. One prepared statement per shape (location, direction, anchored or
 * not, guard).
 */
export function historyPageQuery(
  db: Db,
  loc: MessageLocation,
  direction: 'older' | 'newer',
  anchored: boolean,
  guard: HistoryGuard | undefined,
  p: PageParams,
) {
  const range = historyRange(db, loc, p.containerId, p.viewerId, {
    direction,
    anchor: anchored ? p.anchor : undefined,
    limit: p.fetch,
    guard,
    guardArg: () => p.guardArg,
  }).select(['m.id', messageJson(loc, p.viewerId).as('view')]);
  const order = direction === 'older' ? sql`r.id DESC` : sql`r.id ASC`;
  return { compile: () => renderedPage(range, { order, display: sql`v.id DESC`, limit: p.limit, keys: ['id'] }).compile(db) };
}

interface PageShape {
  loc: MessageLocation;
  direction: 'older' | 'newer';
  anchored: boolean;
  guard: HistoryGuard | undefined;
}

// Guards are told apart by identity (each is one constant function).
const guardKeys = new WeakMap<HistoryGuard, number>();
let guardCount = 0;
function guardKey(guard: HistoryGuard | undefined): number {
  if (!guard) return 0;
  let key = guardKeys.get(guard);
  if (key === undefined) guardKeys.set(guard, (key = ++guardCount));
  return key;
}

const pageStatement = prepareShapes(
  (s: PageShape) => `${s.loc.table}/${s.direction}/${s.anchored}/${guardKey(s.guard)}`,
  (db, p: PageParams, s) => historyPageQuery(db, s.loc, s.direction, s.anchored, s.guard, p),
);

/**
 * A page of history, always newest first, rendered as JSON by PostgreSQL (the shape of
 * MessagePage). `before` (or nothing): the newest messages older than that id; `after`:
 * the oldest messages newer than that id (the page right after it, still shown newest
 * first). `next_cursor` continues in the same direction: older pages for `before`, newer
 * pages for `after`. One index range on (container, id), no sort of the container.
 */
export async function listMessages(
  db: Db,
  loc: MessageLocation,
  containerId: string,
  viewerId: string,
  opts: HistoryOptions,
): Promise<RenderedJson<MessagePage>> {
  if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_PAGE_SIZE) {
    throw new ValidationError({ limit: [`must be between 1 and ${MAX_PAGE_SIZE}`] });
  }
  let direction: 'older' | 'newer' = opts.after ? 'newer' : 'older';
  let anchor = opts.after ?? opts.before;
  if (opts.before && opts.after) throw new AppError('bad_request', 'give before or after, not both', 400);
  if (opts.cursor) {
    const [code, id] = decodeCursor(opts.cursor, 2) as [string, string];
    if ((code !== 'o' && code !== 'n') || !isUuid(id)) throw invalidCursor();
    direction = code === 'o' ? 'older' : 'newer';
    anchor = id;
  }
  const statement = pageStatement({ loc, direction, anchored: anchor !== undefined, guard: opts.guard });
  const [row] = await statement(db, { containerId, viewerId, anchor, limit: opts.limit, fetch: opts.limit + 1, guardArg: opts.guardArg ?? null });
  const size = Math.min(row!.rows, opts.limit);
  const more = row!.rows > opts.limit && row!.last !== null;
  const next_cursor = more ? encodeCursor([direction === 'older' ? 'o' : 'n', (JSON.parse(row!.last!) as [string])[0]]) : null;
  return new RenderedJson(`{"data":${row!.data},"next_cursor":${JSON.stringify(next_cursor)}}`, size);
}
