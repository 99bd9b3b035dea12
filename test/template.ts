// The migrated template database. Its name carries a hash of the migration files, so a
// changed migration builds a fresh template and an unchanged one is reused across runs.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createKysely } from '../src/db/database.ts';
import { maintenanceUrl } from '../src/db/admin.ts';
import { MIGRATIONS_DIR, migrateToLatest } from '../src/db/migrator.ts';

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_DIR).sort()) {
    hash.update(file).update(readFileSync(path.join(MIGRATIONS_DIR, file)));
  }
  return hash.digest('hex').slice(0, 12);
}

export async function prepareTemplate(serverUrl: string): Promise<string> {
  const name = `cgraph_template_${migrationsHash()}`;
  const admin = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
  await admin.connect();
  try {
    // Serialise concurrent test runs against one server while the template is built.
    await admin.query('SELECT pg_advisory_lock(724001)');
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate', [name]);
    if (rowCount) return name;
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
    // Templates of older migration sets are dropped so they do not pile up, once they are two
    // hours old: a concurrent run from another checkout (another migration set) on the same
    // server keeps cloning its own template meanwhile. The creation time is the comment.
    const stale = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database, LATERAL (SELECT shobj_description(oid, 'pg_database') AS born) b
        WHERE datname LIKE 'cgraph\\_template\\_%' AND datname <> $1
          AND CASE WHEN born ~ '^[0-9]+$' THEN born::bigint < $2 ELSE true END`,
      [name, Date.now() - 2 * 3600_000],
    );
    for (const { datname } of stale.rows) {
      await admin.query(`ALTER DATABASE ${admin.escapeIdentifier(datname)} IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
    await admin.query(`COMMENT ON DATABASE ${admin.escapeIdentifier(name)} IS '${Date.now()}'`);
    const pool = new pg.Pool({ connectionString: withDatabase(serverUrl, name), max: 2 });
    const db = createKysely(pool);
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    await admin.query(`ALTER DATABASE ${admin.escapeIdentifier(name)} IS_TEMPLATE true`);
    return name;
  } finally {
    await admin.query('SELECT pg_advisory_unlock(724001)').catch(() => undefined);
    await admin.end();
  }
}
