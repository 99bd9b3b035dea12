// Per-file database: `const t = useTestDatabase()` clones the migrated template into a
// database of the file's own (CREATE DATABASE … TEMPLATE, a file copy that takes tens of
// milliseconds), and drops it after the file. Tests use real connections, so concurrency
// tests see real locking.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import pg from 'pg';
import { loadConfig, type Config } from '../src/config.ts';
import { maintenanceUrl } from '../src/db/admin.ts';
import { connectDatabase, type Database } from '../src/db/database.ts';
import { createLogger, type Logger } from '../src/lib/logger.ts';
import { withDatabase } from './template.ts';

export interface TestDatabase extends Database {
  config: Config;
  logger: Logger;
  name: string;
}

async function adminQuery(serverUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function openHandle(serverUrl: string, name: string, overrides: Record<string, string>): TestDatabase {
  const url = withDatabase(serverUrl, name);
  const config = loadConfig({ NODE_ENV: 'test', TEST_DATABASE_URL: url, LOG_LEVEL: 'silent', POOL_SIZE: '10', ...overrides });
  const logger = createLogger(config.logLevel);
  const database = connectDatabase({ url, embedded: undefined }, config, logger, 'cgraph-test');
  return {
    ...database,
    config,
    logger,
    name,
    async close() {
      await database.close();
      await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/** Creates a fresh database cloned from the migrated template; the caller closes it. */
export async function createTestDatabase(overrides: Record<string, string> = {}): Promise<TestDatabase> {
  const serverUrl = inject('serverUrl');
  const name = `cgraph_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(serverUrl, `CREATE DATABASE "${name}" TEMPLATE "${inject('templateDatabase')}"`);
  return openHandle(serverUrl, name, overrides);
}

/** An empty database (no migrations) for migration tests; the caller closes it. */
export async function createEmptyDatabase(overrides: Record<string, string> = {}): Promise<TestDatabase> {
  const serverUrl = inject('serverUrl');
  const name = `cgraph_e_${randomBytes(6).toString('hex')}`;
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  return openHandle(serverUrl, name, overrides);
}

/** A database for the whole test file, opened before its tests and dropped after. */
export function useTestDatabase(overrides?: Record<string, string>): TestDatabase {
  const handle = {} as TestDatabase;
  beforeAll(async () => {
    Object.assign(handle, await createTestDatabase(overrides));
  });
  afterAll(async () => {
    await handle.close?.();
  });
  return handle;
}

/** Counts the queries run through this database while fn runs (N+1 checks). */
export async function countQueries<T>(t: Database, fn: () => Promise<T>): Promise<{ result: T; queries: string[] }> {
  const queries: string[] = [];
  const off = t.telemetry.onQuery((event) => queries.push(event.sql));
  try {
    return { result: await fn(), queries };
  } finally {
    off();
  }
}


/**
 * The EXPLAIN plan of one statement, with sequential scans priced out: a test table holds a
 * handful of rows, which the planner would always scan; this shows whether an index fits.
 */
export async function explainPlan(
  t: Database,
  statement: string,
  parameters: readonly unknown[],
  options: { generic?: boolean } = {},
): Promise<string> {
  const client = await t.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL enable_seqscan = off');
    if (options.generic) {
      // The plan a prepared statement settles on after its first executions: one made
      // without looking at the parameter values (PREPARE + EXPLAIN EXECUTE; PostgreSQL 15
      // has no EXPLAIN (GENERIC_PLAN)).
      await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
      await client.query(`PREPARE explained AS ${statement}`);
      const literals = parameters.map((value) =>
        value === null || value === undefined ? 'NULL' : client.escapeLiteral(typeof value === 'object' ? JSON.stringify(value) : String(value as string | number | boolean)),
      );
      try {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE explained(${literals.join(', ')})`);
        return rows.map((row) => row['QUERY PLAN']).join('\n');
      } finally {
        await client.query('DEALLOCATE explained'); // PREPARE outlives the rolled-back transaction
      }
    }
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement}`, [...parameters]);
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}
