import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../config.ts';
import { createEmptyDatabase, type TestDatabase } from '../../test/db.ts';
import { schemaSnapshot } from '../../test/schema-snapshot.ts';
import {
  MIGRATIONS_DIR,
  MigrationError,
  createMigrator,
  generateMigration,
  migrateToLatest,
  migrationStatus,
  rollback,
} from './migrator.ts';

/** Lines present in one snapshot and not the other (a short, readable failure). */
function diffLines(actual: string, expected: string): string[] {
  const a = new Set(actual.split('\n'));
  const e = new Set(expected.split('\n'));
  return [...[...a].filter((l) => !e.has(l)).map((l) => `+ ${l}`), ...[...e].filter((l) => !a.has(l)).map((l) => `- ${l}`)];
}

const migrationNames = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '')).sort();

describe('every migration is exact in both directions', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createEmptyDatabase();
  });
  afterAll(() => t.close());

  it('walks up one at a time, down one at a time, and up again to the same schema', async () => {
    // Kysely's own bookkeeping tables appear with the first run; leave them out.
    const snap = () => schemaSnapshot(t.pool, { exclude: ['kysely_migration'] });
    const before = await snap();
    const migrator = createMigrator(t.db);
    const ups: string[] = [before];
    for (let i = 0; i < migrationNames.length; i++) {
      const { error } = await migrator.migrateUp();
      expect(error).toBeUndefined();
      ups.push(await snap());
    }
    expect(ups.at(-1)).toContain('users');
    for (let i = migrationNames.length; i > 0; i--) {
      await rollback(t.db, 1);
      // The data-only migration (backfill) leaves the schema as it was: compare anyway.
      expect(diffLines(await snap(), ups[i - 1]!), `down of ${migrationNames[i - 1]}`).toEqual([]);
    }
    expect(diffLines(await snap(), before)).toEqual([]);
    const applied = await migrateToLatest(t.db);
    expect(applied).toEqual(migrationNames);
    expect(diffLines(await snap(), ups.at(-1)!)).toEqual([]);
  });

  it('reports each migration and whether it has run', async () => {
    const status = await migrationStatus(t.db);
    expect(status.map((s) => s.name)).toEqual(migrationNames);
    expect(status.every((s) => s.executedAt instanceof Date)).toBe(true);
  });

  it('rolls back --step N and refuses more steps than are applied', async () => {
    const reverted = await rollback(t.db, 3);
    expect(reverted).toEqual(migrationNames.slice(-3).reverse());
    const status = await migrationStatus(t.db);
    expect(status.filter((s) => !s.executedAt).map((s) => s.name)).toEqual(migrationNames.slice(-3));
    await expect(rollback(t.db, migrationNames.length)).rejects.toThrow(
      `cannot roll back ${migrationNames.length} migrations: only ${migrationNames.length - 3} are applied`,
    );
    await expect(rollback(t.db, 0)).rejects.toThrow(MigrationError);
    await migrateToLatest(t.db);
  });
});

describe('the data migration (seed: backfill users.status)', () => {
  it('sets a missing status to offline', async () => {
    const t = await createEmptyDatabase();
    try {
      const backfill = migrationNames.find((name) => name.endsWith('_backfill_user_status'));
      expect(backfill).toBeDefined();
      const before = migrationNames[migrationNames.indexOf(backfill!) - 1]!;
      const { error } = await createMigrator(t.db).migrateTo(before);
      expect(error).toBeUndefined();
      await sql`INSERT INTO users (id, email, username, password_hash, status)
                VALUES (cgraph_uuid_v7(), 'old@example.com', 'old_user', 'x', NULL)`.execute(t.db);
      await migrateToLatest(t.db);
      const { rows } = await sql<{ status: string }>`SELECT status FROM users WHERE username = 'old_user'`.execute(t.db);
      expect(rows[0]?.status).toBe('offline');
    } finally {
      await t.close();
    }
  });
});

describe('failures and concurrency', () => {
  let folder: string;
  beforeAll(async () => {
    // Inside the project so the files resolve 'kysely' from node_modules.
    await mkdir(path.join(PROJECT_ROOT, '.cgraph'), { recursive: true });
    folder = await mkdtemp(path.join(PROJECT_ROOT, '.cgraph', 'test-migrations-'));
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  const write = (name: string, up: string, down = 'SELECT 1') =>
    writeFile(
      path.join(folder, `${name}.ts`),
      `import { sql } from 'kysely';
export async function up(db) { await sql.raw(${JSON.stringify(up)}).execute(db); }
export async function down(db) { await sql.raw(${JSON.stringify(down)}).execute(db); }\n`,
    );

  it('names the migration that failed and leaves nothing of the run applied', async () => {
    await write('20990101000001_create_a', 'CREATE TABLE a (id int)', 'DROP TABLE a');
    await write('20990101000002_broken', 'ALTER TABLE does_not_exist ADD COLUMN x int');
    const t = await createEmptyDatabase();
    try {
      const failure = await migrateToLatest(t.db, folder).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MigrationError);
      expect((failure as MigrationError).migration).toBe('20990101000002_broken');
      expect((failure as Error).message).toMatch(/migration 20990101000002_broken failed \(up\): relation "does_not_exist" does not exist/);
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'a'`.execute(t.db);
      expect(rows[0]?.n).toBe(0);
      const status = await migrationStatus(t.db, folder);
      expect(status.every((s) => !s.executedAt)).toBe(true);
    } finally {
      await t.close();
      await rm(path.join(folder, '20990101000002_broken.ts'));
    }
  });

  it('applies each migration once when several nodes migrate at the same moment', async () => {
    await write('20990101000003_slow', 'CREATE TABLE b (id int); SELECT pg_sleep(0.3)', 'DROP TABLE b');
    const t = await createEmptyDatabase();
    try {
      const runs = await Promise.all([1, 2, 3].map(() => migrateToLatest(t.db, folder)));
      // Exactly one run applied both; the others found nothing pending after the lock.
      expect(runs.flat().sort()).toEqual(['20990101000001_create_a', '20990101000003_slow']);
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM kysely_migration`.execute(t.db);
      expect(rows[0]?.n).toBe(2);
    } finally {
      await t.close();
    }
  });
});

describe('db gen', () => {
  it('writes a timestamped file with up and down, and rejects bad or duplicate names', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'cgraph-gen-'));
    try {
      const file = await generateMigration('add_user_bio', folder, new Date(Date.UTC(2027, 0, 2, 3, 4, 5)));
      expect(path.basename(file)).toBe('20270102030405_add_user_bio.ts');
      const text = await readFile(file, 'utf8');
      expect(text).toMatch(/export async function up\(db: Kysely<any>\)/);
      expect(text).toMatch(/export async function down\(db: Kysely<any>\)/);
      await expect(generateMigration('Add-Bio', folder)).rejects.toThrow(/must be snake_case/);
      await expect(generateMigration('add_user_bio', folder)).rejects.toThrow(/already exists/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
