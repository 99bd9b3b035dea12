// Row count and a content checksum per table. Two databases with equal results hold the
// same rows. Used to verify a restore (tests, the benchmark; by hand: compare before and
// after). The checksum is order-independent and streams: the md5 of each row's text form,
// split into two 64-bit halves, summed (as numeric, so nothing overflows). Concatenating
// the rows first (string_agg) would need the whole table in one 1 GB string.
import type pg from 'pg';

export type TableChecksums = Record<string, { rows: number; checksum: string }>;

export async function tableChecksums(pool: pg.Pool, schemas: string[] = ['public']): Promise<TableChecksums> {
  const { rows: tables } = await pool.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_schema = ANY($1) AND table_type = 'BASE TABLE' ORDER BY 1, 2`,
    [schemas],
  );
  const result: TableChecksums = {};
  for (const { schema, name } of tables) {
    const ident = `"${schema.replaceAll('"', '""')}"."${name.replaceAll('"', '""')}"`;
    const { rows } = await pool.query<{ rows: number; checksum: string }>(
      `SELECT count(*)::int AS rows,
              coalesce(sum(('x' || left(h, 16))::bit(64)::bigint::numeric), 0) || '/' ||
              coalesce(sum(('x' || right(h, 16))::bit(64)::bigint::numeric), 0) AS checksum
         FROM (SELECT md5(t::text) AS h FROM ${ident} t) rows`,
    );
    result[`${schema}.${name}`] = rows[0]!;
  }
  return result;
}
