// Migrations through Kysely's Migrator. On PostgreSQL it takes an advisory lock for the
// whole run and applies every pending migration inside one transaction, so two nodes that
// start together apply each migration once, and a failing migration leaves nothing of the
// run behind. This module adds what `mix ecto.*` users expect on top: rollback --step,
// status, gen, and errors that name the migration that failed.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  Migrator,
  NO_MIGRATIONS,
  type Kysely,
  type Migration,
  type MigrationProvider,
  type MigrationResult,
  type MigrationResultSet,
} from 'kysely';
import { PROJECT_ROOT } from '../config.ts';

/** The migrations this code runs: beside this module (src/, or dist/ in the compiled build). */
export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
/** Where `cgraph db gen` writes: always the sources (a build compiles them into dist/). */
export const SOURCE_MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'src', 'db', 'migrations');

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    message: string,
    readonly migration: string | undefined,
  ) {
    super(message);
  }
}

export interface MigrationStatus {
  name: string;
  executedAt: Date | undefined;
}

/**
 * Loads the migration files of a folder. Unlike Kysely's FileMigrationProvider the
 * import() lives in our own code, so whichever loader runs the app (tsx for the CLI,
 * vitest's module runner in tests) also compiles the TypeScript migrations.
 */
class FolderMigrationProvider implements MigrationProvider {
  constructor(private readonly folder: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await fs.readdir(this.folder)).filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts'));
    const migrations: Record<string, Migration> = {};
    for (const file of files.sort()) {
      const module = (await import(pathToFileURL(path.join(this.folder, file)).href)) as Partial<Migration>;
      if (typeof module.up !== 'function') throw new MigrationError(`migration ${file} exports no up function`, file);
      migrations[file.replace(/\.(ts|js|mjs)$/, '')] = module as Migration;
    }
    return migrations;
  }
}

export function createMigrator(db: Kysely<any>, folder = MIGRATIONS_DIR): Migrator {
  return new Migrator({ db, provider: new FolderMigrationProvider(folder) });
}

function unwrap({ error, results }: MigrationResultSet): MigrationResult[] {
  if (!error) return results ?? [];
  const failed = results?.find((r) => r.status === 'Error');
  const reason = error instanceof Error ? error.message : JSON.stringify(error);
  if (failed) {
    throw new MigrationError(
      `migration ${failed.migrationName} failed (${failed.direction.toLowerCase()}): ${reason}; nothing from this run was applied`,
      failed.migrationName,
    );
  }
  throw new MigrationError(`migrations could not run: ${reason}`, undefined);
}

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(db: Kysely<any>, folder?: string): Promise<string[]> {
  return unwrap(await createMigrator(db, folder).migrateToLatest()).map((r) => r.migrationName);
}

/** Rolls back the last `steps` applied migrations; returns the names rolled back. */
export async function rollback(db: Kysely<any>, steps = 1, folder?: string): Promise<string[]> {
  if (!Number.isInteger(steps) || steps < 1) throw new MigrationError('--step must be a whole number of at least 1', undefined);
  const migrator = createMigrator(db, folder);
  const applied = (await migrator.getMigrations()).filter((m) => m.executedAt !== undefined);
  if (applied.length === 0) throw new MigrationError('nothing to roll back: no migration has been applied', undefined);
  if (steps > applied.length) {
    throw new MigrationError(
      `cannot roll back ${steps} migrations: only ${applied.length} ${applied.length === 1 ? 'is' : 'are'} applied`,
      undefined,
    );
  }
  const target = steps === applied.length ? NO_MIGRATIONS : applied[applied.length - steps - 1]!.name;
  return unwrap(await migrator.migrateTo(target)).map((r) => r.migrationName);
}

export async function migrationStatus(db: Kysely<any>, folder?: string): Promise<MigrationStatus[]> {
  const migrations = await createMigrator(db, folder).getMigrations();
  return migrations.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}

const TEMPLATE = `import { sql, type Kysely } from 'kysely';

// Migrations are frozen in time: import nothing from the app, use Kysely<any>.
export async function up(db: Kysely<any>): Promise<void> {
  await sql\`\`.execute(db);
}

// Undo exactly what up did, in reverse order.
export async function down(db: Kysely<any>): Promise<void> {
  await sql\`\`.execute(db);
}
`;

function timestamp(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}` +
    `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`
  );
}

/** `cgraph db gen <name>`: a new timestamped migration file with up and down. */
export async function generateMigration(name: string, folder = SOURCE_MIGRATIONS_DIR, now = new Date()): Promise<string> {
  if (!/^[a-z][a-z0-9_]{0,80}$/.test(name)) {
    throw new MigrationError(
      `migration name "${name}" must be snake_case: lower-case letters, digits and underscores, starting with a letter`,
      undefined,
    );
  }
  const existing = await fs.readdir(folder).catch(() => [] as string[]);
  if (existing.some((file) => file.replace(/^\d+_/, '').replace(/\.ts$/, '') === name)) {
    throw new MigrationError(`a migration named "${name}" already exists`, undefined);
  }
  const file = path.join(folder, `${timestamp(now)}_${name}.ts`);
  await fs.mkdir(folder, { recursive: true });
  await fs.writeFile(file, TEMPLATE, { flag: 'wx' });
  return file;
}
