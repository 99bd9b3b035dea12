// Ecto's Repo conveniences over Kysely: get / get! / get_by / get_by! and the aggregates.
// Anything with a join, an ORDER BY or a projection is plain Kysely at the call site;
// these exist because "one row by key" and "how many" are written a hundred times.
//
// Kysely cannot resolve the columns of a table picked by a type parameter, so the queries
// are built on an untyped view of the same connection (`loose`) and the precise row type is
// restored at the boundary: callers never see `any`.
import type { InsertType, Kysely, Selectable, SelectQueryBuilder } from 'kysely';
import { NotFoundError } from '../lib/errors.ts';
import { isUuid } from '../lib/ids.ts';
import type { DB, Db } from './database.ts';

export type Row<T extends keyof DB> = Selectable<DB[T]>;

/** Tables keyed by a single `id` column. */
export type TableWithId = { [T in keyof DB]: DB[T] extends { id: unknown } ? T : never }[keyof DB];

/** Column equality filter, ANDed. Values may not be null: see getBy. */
export type Where<T extends keyof DB> = { [C in keyof Row<T>]?: NonNullable<Row<T>[C]> };

/**
 * Numeric columns: what sum/avg/min/max accept. Told apart by accepting a number on insert,
 * because generated int8 and numeric columns read as strings in the row types.
 */
export type NumericColumn<T extends keyof DB> = {
  [C in keyof DB[T]]: number extends InsertType<DB[T][C]> ? C : never;
}[keyof DB[T]] &
  string;

function loose(db: Db): Kysely<any> {
  return db;
}

/** Repo.get: the row with this id, or undefined. */
export async function get<T extends TableWithId>(db: Db, table: T, id: string): Promise<Row<T> | undefined> {
  // Every id is a UUID. A malformed one cannot match, and sending it would make PostgreSQL
  // fail with invalid_text_representation (a 500) where "not found" (a 404) is the truth.
  if (!isUuid(id)) return undefined;
  const row: unknown = await loose(db).selectFrom(table).selectAll().where('id', '=', id).executeTakeFirst();
  return row as Row<T> | undefined;
}

/** Repo.get!: the row with this id, or NotFoundError (404). */
export async function getOrThrow<T extends TableWithId>(
  db: Db,
  table: T,
  id: string,
  what?: string,
): Promise<Row<T>> {
  const row = await get(db, table, id);
  if (row === undefined) throw new NotFoundError(what);
  return row;
}

/**
 * Repo.get_by: the row matching every column of `where`, or undefined. Meant for unique
 * keys (email, username, slug); with several matches one of them is returned.
 *
 * Like Ecto, a null or undefined value is refused rather than matched: `getBy(db, 'users',
 * { email: input.email })` with a missing email would otherwise find a wallet-only user,
 * whose email is NULL. An empty filter is refused for the same reason.
 */
export async function getBy<T extends keyof DB>(
  db: Db,
  table: T,
  where: Where<T>,
): Promise<Row<T> | undefined> {
  const row: unknown = await filtered(db, table, where, 'getBy').selectAll().limit(1).executeTakeFirst();
  return row as Row<T> | undefined;
}

/** Repo.get_by!: getBy, or NotFoundError (404). */
export async function getByOrThrow<T extends keyof DB>(
  db: Db,
  table: T,
  where: Where<T>,
  what?: string,
): Promise<Row<T>> {
  const row = await getBy(db, table, where);
  if (row === undefined) throw new NotFoundError(what);
  return row;
}

/** Repo.aggregate(query, :count): rows of `table` matching `where` (all rows without it). */
export async function count<T extends keyof DB>(db: Db, table: T, where: Where<T> = {}): Promise<number> {
  const query = Object.keys(where).length ? filtered(db, table, where, 'count') : loose(db).selectFrom(table);
  const row = await query.select((eb) => eb.fn.countAll().as('count')).executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Repo.aggregate(query, fun, column). Like SQL (and Ecto), it is null over no rows. avg
 * comes back from PostgreSQL as numeric and is converted to a JS number.
 */
export async function aggregate<T extends keyof DB>(
  db: Db,
  table: T,
  fn: 'sum' | 'avg' | 'min' | 'max',
  column: NumericColumn<T>,
  where: Where<T> = {},
): Promise<number | null> {
  const query = Object.keys(where).length
    ? filtered(db, table, where, 'aggregate')
    : loose(db).selectFrom(table);
  const row = await query.select((eb) => eb.fn(fn, [column]).as('value')).executeTakeFirstOrThrow();
  return row.value === null ? null : Number(row.value);
}

/**
 * Rows per value of `column` (GROUP BY), e.g. messages per sender. Values with no rows are
 * absent from the map, not zero.
 */
export async function countBy<T extends keyof DB, C extends keyof Row<T> & string>(
  db: Db,
  table: T,
  column: C,
  where: Where<T> = {},
): Promise<Map<Row<T>[C], number>> {
  const query = Object.keys(where).length
    ? filtered(db, table, where, 'countBy')
    : loose(db).selectFrom(table);
  const rows = await query
    .select((eb) => [eb.ref(column).as('key'), eb.fn.countAll().as('count')])
    .groupBy(column)
    .execute();
  return new Map(rows.map((row) => [row.key as Row<T>[C], Number(row.count)]));
}

/**
 * COUNT(*) over any select query: the rows it would return, ignoring its ORDER BY (which
 * cannot change a count). Page pagination uses it for total_entries.
 */
export async function countQuery<TB extends keyof DB, O>(
  db: Db,
  query: SelectQueryBuilder<DB, TB, O>,
): Promise<number> {
  const row = await loose(db)
    .selectFrom(query.clearOrderBy().as('counted'))
    .select((eb) => eb.fn.countAll().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

function filtered(db: Db, table: keyof DB, where: Record<string, unknown>, caller: string) {
  const entries = Object.entries(where);
  if (entries.length === 0) throw new TypeError(`${caller}(${table}): empty filter`);
  let query = loose(db).selectFrom(table);
  for (const [column, value] of entries) {
    if (value === null || value === undefined) {
      throw new TypeError(
        `${caller}(${table}): ${column} is ${String(value)}; compare with IS NULL in a query`,
      );
    }
    query = query.where(column, '=', value);
  }
  return query;
}
