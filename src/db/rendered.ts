// Pages rendered as JSON by PostgreSQL (see lib/rendered-json.ts for why): the SQL pieces
// shared by the hot lists (history pages, the conversation list).
import { sql, type Expression, type RawBuilder } from 'kysely';

/** A timestamptz as JavaScript's toISOString() writes it (UTC, milliseconds truncated, `Z`). */
export function isoText(column: string): RawBuilder<string | null> {
  return sql<string | null>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

export interface RenderedPageRow {
  /** the first `limit` views as a JSON array */
  data: string;
  /** rows the range returned (limit + 1 means there is a next page) */
  rows: number;
  /** the keys of the page's last row, as a JSON array of text (the next cursor's values) */
  last: string | null;
}

/**
 * The statement around one page: `range` returns up to limit + 1 rows, each with a `view`
 * (json) column and the `keys` the next cursor continues from; it is already ordered and
 * limited (so an index range serves it). The rows are numbered in `order` (the range's
 * own order, over its few rows), the first `limit` views aggregated in `display` order,
 * and the keys of the last of them returned as a JSON array of their text forms (the text
 * form of a timestamptz keeps its microseconds, so a cursor compares exactly).
 */
export function renderedPage(
  range: Expression<unknown>,
  opts: { order: RawBuilder<unknown>; display: RawBuilder<unknown>; limit: unknown; keys: readonly string[] },
): RawBuilder<RenderedPageRow> {
  const keys = sql.join(opts.keys.map((key) => sql`v.${sql.ref(key)}::text`));
  return sql<RenderedPageRow>`SELECT
      coalesce(json_agg(v.view ORDER BY ${opts.display}) FILTER (WHERE v.n <= ${opts.limit}), '[]')::text AS data,
      count(*)::int AS rows,
      (array_agg(json_build_array(${keys})::text ORDER BY v.n))[${opts.limit}] AS last
    FROM (SELECT r.*, row_number() OVER (ORDER BY ${opts.order}) AS n FROM (${range}) AS r) AS v`;
}
