// A textual snapshot of a database's schema from the catalogues: what `pg_dump
// --schema-only` would show that matters for migrations (tables, columns, constraints,
// indexes, triggers, functions, extensions), without needing a pg_dump binary.
import type pg from 'pg';

const QUERIES: Record<string, string> = {
  extensions: `SELECT extname AS x FROM pg_extension ORDER BY 1`,
  columns: `
    SELECT format('%s.%s %s %s default %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END, pg_get_expr(d.adbin, d.adrelid)) AS x
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum`,
  constraints: `
    SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS x
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`,
  indexes: `SELECT indexdef AS x FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`,
  triggers: `
    SELECT pg_get_triggerdef(t.oid) AS x FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal ORDER BY 1`,
  functions: `
    SELECT pg_get_functiondef(p.oid) AS x FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
    WHERE n.nspname = 'public' AND d.objid IS NULL ORDER BY 1`,
  types: `
    SELECT format('%s %s', t.typname, t.typtype) AS x FROM pg_type t
    LEFT JOIN pg_depend d ON d.objid = t.oid AND d.deptype = 'e'
    WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'c') AND d.objid IS NULL
      AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
    ORDER BY 1`,
};

export async function schemaSnapshot(pool: pg.Pool, { exclude = [] as string[] } = {}): Promise<string> {
  const parts: string[] = [];
  for (const [section, text] of Object.entries(QUERIES)) {
    const { rows } = await pool.query<{ x: string }>(text);
    const lines = rows.map((r) => r.x).filter((line) => !exclude.some((word) => line.includes(word)));
    parts.push(`-- ${section}\n${lines.join('\n')}`);
  }
  return parts.join('\n\n');
}
