// The database handle: one pg pool, one Kysely instance over it, telemetry on both, and
// the embedded PostgreSQL when no DATABASE_URL is configured.
import { readFileSync } from 'node:fs';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config, DatabaseConfig } from '../config.ts';
import type { Logger } from '../lib/logger.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded.ts';
import type { DB } from './schema.ts';
import { DbTelemetry, poolStats, type PoolStats } from './telemetry.ts';
import { ensureDatabaseExists } from './admin.ts';

export type { DB };
export type Db = Kysely<DB>;

// int8 (counters, bitfields, seq) as JS numbers: every bigint we store stays far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface Database {
  db: Db;
  pool: pg.Pool;
  telemetry: DbTelemetry;
  url: string;
  embedded: EmbeddedServer | undefined;
  stats(): PoolStats;
  close(): Promise<void>;
}

export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
}

export function sslOptions(config: Pick<DatabaseConfig, 'ssl' | 'sslCaFile'>): pg.PoolConfig['ssl'] {
  switch (config.ssl) {
    case 'disable':
      return false;
    case 'no-verify':
      // The seed's `ssl_opts: [verify: :verify_none]`: encrypted, certificate not checked.
      return { rejectUnauthorized: false };
    case 'verify-full':
      return {
        rejectUnauthorized: true,
        ...(config.sslCaFile ? { ca: readFileSync(config.sslCaFile, 'utf8') } : {}),
      };
  }
}

/** Where the configured database lives; starts the embedded server when there is no URL. */
export async function resolveDatabaseUrl(
  config: Config,
): Promise<{ url: string; embedded: EmbeddedServer | undefined }> {
  if (config.database.url) return { url: config.database.url, embedded: undefined };
  const embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPort);
  const url = embedded.urlFor(config.database.embeddedDatabase);
  await ensureDatabaseExists(url, { ssl: false });
  return { url, embedded };
}

export function createPool(url: string, config: DatabaseConfig, applicationName = 'cgraph'): pg.Pool {
  const pool = new pg.Pool({
    connectionString: stripSslParams(url),
    max: config.poolSize,
    ssl: sslOptions(config),
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    ...(config.statementTimeoutMs > 0 ? { statement_timeout: config.statementTimeoutMs } : {}),
  });
  // An idle client losing its connection (database restart) must not crash the process;
  // the pool drops it and the next checkout opens a fresh one.
  pool.on('error', () => {});
  return pool;
}

/** DATABASE_SSL governs TLS; sslmode in the URL would silently override it in pg. */
function stripSslParams(url: string): string {
  const parsed = new URL(url);
  for (const key of ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey']) parsed.searchParams.delete(key);
  return parsed.toString();
}

export function createKysely(pool: pg.Pool): Db {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

export async function openDatabase(config: Config, logger: Logger, applicationName?: string): Promise<Database> {
  const { url, embedded } = await resolveDatabaseUrl(config);
  return connectDatabase({ url, embedded }, config, logger, applicationName);
}

/** A Database over an already resolved URL; close() also stops the embedded server it owns. */
export function connectDatabase(
  target: { url: string; embedded: EmbeddedServer | undefined },
  config: Config,
  logger: Logger,
  applicationName?: string,
): Database {
  const pool = createPool(target.url, config.database, applicationName);
  const telemetry = new DbTelemetry(logger, config.database);
  telemetry.instrument(pool);
  const db = createKysely(pool);
  let closed = false;
  return {
    db,
    pool,
    telemetry,
    url: target.url,
    embedded: target.embedded,
    stats: () => poolStats(pool),
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy(); // ends the pool
      await target.embedded?.stop();
    },
  };
}

/** Fails with DatabaseUnavailableError (one clear line) when the database does not answer. */
export async function checkConnection(pool: pg.Pool, url: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    throw new DatabaseUnavailableError(`cannot reach the database at ${redactUrl(url)}: ${(error as Error).message}`);
  }
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
