// Two ways to page a query.
//
// * paginate: numbered pages, like Repo.paginate (Scrivener). Simple and jumpable, but
//   OFFSET reads and discards every row before the page, so it is for small sets (admin
//   lists, search results), never for history or feeds.
// * keysetPage: "the next n rows after this one", by a row comparison on (sort key, id)
//   that an index on the same columns answers directly, however deep the page. Cursors are
//   opaque to clients: base64url JSON of the last row's sort key and id.
import { sql, type SelectQueryBuilder, type StringReference } from 'kysely';
import { AppError, ValidationError } from '../lib/errors.ts';
import type { DB, Db } from './database.ts';
import { countQuery } from './repo.ts';

export const MAX_PAGE_SIZE = 100;

export interface Page<T> {
  entries: T[];
  page: number;
  page_size: number;
  total_entries: number;
  total_pages: number;
}

/**
 * Page `page` (from 1) of `query`, `pageSize` rows per page (1–100). total_entries comes
 * from one COUNT over the same query; total_pages is at least 1, as Scrivener reports an
 * empty set as one empty page. `query` must have a deterministic ORDER BY (end it with the
 * id) or rows can repeat or vanish between pages.
 */
export async function paginate<TB extends keyof DB, O>(
  db: Db,
  query: SelectQueryBuilder<DB, TB, O>,
  opts: { page: number; pageSize: number },
): Promise<Page<O>> {
  const errors = {
    ...checkRange('page', opts.page, 1, Number.MAX_SAFE_INTEGER),
    ...checkRange('page_size', opts.pageSize, 1, MAX_PAGE_SIZE),
  };
  if (Object.keys(errors).length) throw new ValidationError(errors);
  // Two statements, two snapshots: under concurrent writes the total can be off by the
  // rows written in between, which a page count tolerates.
  const [entries, total] = await Promise.all([
    query
      .limit(opts.pageSize)
      .offset((opts.page - 1) * opts.pageSize)
      .execute(),
    countQuery(db, query),
  ]);
  return {
    entries,
    page: opts.page,
    page_size: opts.pageSize,
    total_entries: total,
    total_pages: Math.max(1, Math.ceil(total / opts.pageSize)),
  };
}

export interface KeysetOptions<TB extends keyof DB> {
  /**
   * The sort column (say 'forum_posts.hot'); omit to page by id alone. It must be NOT NULL:
   * a row comparison with NULL is never true, so such rows would fall out of every page.
   */
  sortKey?: StringReference<DB, TB>;
  /** The tie-breaker, unique: 'id' unless a join makes it ambiguous. */
  id?: StringReference<DB, TB>;
  direction?: 'asc' | 'desc';
  limit: number;
  /** next_cursor of the previous page; absent or null for the first. */
  cursor?: string | null | undefined;
}

export interface KeysetPage<T> {
  data: T[];
  /** null on the last page. */
  next_cursor: string | null;
}

// Extra output columns carrying the cursor values as PostgreSQL prints them: its text form
// of a timestamptz keeps the microseconds a JS Date drops, and a float8's is exact, so a
// value read back from a cursor compares exactly equal to the row it came from. Removed
// from the rows before they are returned.
const cursorColumn = (index: number) => `__cursor_${index}`;

/**
 * Up to `limit` (1–100) rows of `query` after the cursor, ordered by (sortKey, id) in
 * `direction`: `WHERE (sort_key, id) < ($1, $2) ORDER BY sort_key DESC, id DESC LIMIT n+1`
 * (> and ASC ascending). The extra row only tells whether another page exists. `query`
 * carries the filters and the selection, and no ORDER BY or LIMIT of its own.
 */
export async function keysetPage<TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  opts: KeysetOptions<TB>,
): Promise<KeysetPage<O>> {
  const limitErrors = checkRange('limit', opts.limit, 1, MAX_PAGE_SIZE);
  if (limitErrors) throw new ValidationError(limitErrors);
  const idRef = opts.id ?? ('id' as StringReference<DB, TB>);
  const keys = opts.sortKey === undefined ? [idRef] : [opts.sortKey, idRef];
  const direction = opts.direction ?? 'desc';
  const after = opts.cursor ? decodeCursor(opts.cursor, keys.length) : undefined;

  // The id (a uuid, already a string) is read from the row itself; other sort keys travel
  // in extra text columns (see cursorColumn). Only those need stripping from the rows.
  const idField = String(idRef).split('.').at(-1)!;
  const extra = keys.length - 1;
  let q = extra
    ? query.select(sql<string | null>`${sql.ref(keys[0]!)}::text`.as(cursorColumn(0)))
    : query;
  if (after) {
    const op = direction === 'desc' ? '<' : '>';
    q = q.where((eb) =>
      keys.length === 1
        ? eb(sql.ref(idRef), op, after[0])
        : // Typed as strings in the cursor; PostgreSQL casts each to its column's type.
          eb(
            eb.refTuple(keys[0] as never, keys[1] as never),
            op,
            eb.tuple(after[0] as never, after[1] as never),
          ),
    );
  }
  for (const key of keys) q = q.orderBy(sql.ref(key), direction);

  let rows: Record<string, unknown>[];
  try {
    rows = await q.limit(opts.limit + 1).execute();
  } catch (error) {
    // A cursor that decodes but holds a value its column cannot take (edited by hand, or
    // from another sort) fails in PostgreSQL's input function: the client's fault.
    if (after && isBadInput(error)) throw invalidCursor();
    throw error;
  }

  const more = rows.length > opts.limit;
  const page = more ? rows.slice(0, opts.limit) : rows;
  const last = page.at(-1);
  let next_cursor: string | null = null;
  if (more && last) {
    const values = extra ? [last[cursorColumn(0)], last[idField]] : [last[idField]];
    if (values.some((value) => typeof value !== 'string')) {
      throw new Error(`keysetPage: the query must select "${idField}" and its sort key must not be NULL`);
    }
    next_cursor = encodeCursor(values as string[]);
  }
  // Rest-destructuring keeps the row objects in V8's fast shape (a `delete` would not).
  const data = extra ? page.map(({ [cursorColumn(0)]: _cursor, ...row }) => row) : page;
  return { data: data as O[], next_cursor };
}

/** An opaque cursor: base64url of a JSON array of the key values as text. */
export function encodeCursor(values: readonly string[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** The values of a cursor made by encodeCursor; anything else is AppError invalid_cursor (400). */
export function decodeCursor(cursor: string, length: number): string[] {
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw invalidCursor();
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (!Array.isArray(values) || values.length !== length || !values.every((v) => typeof v === 'string')) {
    throw invalidCursor();
  }
  return values;
}

export function invalidCursor(): AppError {
  return new AppError('invalid_cursor', 'the cursor is not valid for this list', 400);
}

// Class 22 "data exception" codes raised when a text value does not parse as its type:
// invalid_text_representation, invalid_datetime_format, datetime_field_overflow,
// numeric_value_out_of_range, and invalid_parameter_value.
const BAD_INPUT = new Set(['22P02', '22007', '22008', '22003', '22023']);

export function isBadInput(error: unknown): boolean {
  return error instanceof Error && BAD_INPUT.has(String((error as { code?: unknown }).code));
}

function checkRange(
  field: string,
  value: number,
  min: number,
  max: number,
): Record<string, string[]> | undefined {
  if (!Number.isInteger(value)) return { [field]: ['must be an integer'] };
  if (value < min) return { [field]: [`must be greater than or equal to ${min}`] };
  if (value > max) return { [field]: [`must be less than or equal to ${max}`] };
  return undefined;
}
