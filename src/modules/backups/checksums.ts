// Row count and a content checksum per table: md5 of every row's text form in a stable
// order. Two databases with equal results hold the same rows. Used to verify a restore
// (tests, the benchmark; by hand: compare before and after).
import type pg from 'pg';

export type TableChecksums = Record<string, { rows: number; md5: string }>;

export async function tableChecksums(pool: pg.Pool, schemas: string[] = ['public']): Promise<TableChecksums> {
  const { rows: tables } = await pool.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_schema = ANY($1) AND table_type = 'BASE TABLE' ORDER BY 1, 2`,
    [schemas],
  );
  const result: TableChecksums = {};
  for (const { schema, name } of tables) {
    const ident = `"${schema.replaceAll('"', '""')}"."${name.replaceAll('"', '""')}"`;
    const { rows } = await pool.query<{ rows: number; md5: string }>(
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS md5 FROM ${ident} t`,
    );
    result[`${schema}.${name}`] = rows[0]!;
  }
  return result;
}
