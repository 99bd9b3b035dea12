// Shared benchmark plumbing: a scratch database on the configured server (or the
// embedded one), and timing helpers that interleave the measured variants in rounds so
// machine noise hits each of them alike; figures are medians over rounds.
import type { CompiledQuery } from 'kysely';
import type pg from 'pg';
import { loadConfig, PROJECT_ROOT } from '../src/config.ts';
import path from 'node:path';
import { dropDatabase, ensureDatabaseExists } from '../src/db/admin.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { connectDatabase, type Database } from '../src/db/database.ts';
import { createLogger } from '../src/lib/logger.ts';

export interface BenchDatabase {
  database: Database;
  url: string;
  close(): Promise<void>;
}

/** A freshly migrated `cgraph_bench` database on BENCH_DATABASE_URL / DATABASE_URL's server, else embedded. */
export async function benchDatabase(name = 'cgraph_bench'): Promise<BenchDatabase> {
  const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  let embedded: EmbeddedServer | undefined;
  let url: string;
  if (serverUrl) {
    const parsed = new URL(serverUrl);
    parsed.pathname = `/${name}`;
    url = parsed.toString();
  } else {
    embedded = await startEmbeddedPostgres(path.join(PROJECT_ROOT, '.cgraph', 'bench'), 54349);
    url = embedded.urlFor(name);
  }
  await dropDatabase(url, { ssl: false });
  await ensureDatabaseExists(url, { ssl: false });
  // The bench's own pool bulk-loads demo data and queues its set-up lookups on purpose: a
  // slow-query or slow-checkout warning per statement would bury the figures.
  const config = loadConfig({
    NODE_ENV: 'development',
    DATABASE_URL: url,
    LOG_LEVEL: 'warn',
    POOL_SIZE: '10',
    DB_SLOW_QUERY_MS: '0',
    DB_CHECKOUT_WARN_MS: '600000',
  });
  const database = connectDatabase({ url, embedded }, config, createLogger('warn'), 'cgraph-bench');
  await migrateToLatest(database.db);
  return {
    database,
    url,
    async close() {
      await database.close();
      await dropDatabase(url, { ssl: false }).catch(() => undefined);
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface Sample {
  /** operations per second */
  rate: number;
  /** this process's CPU time per operation, in microseconds (user + system) */
  cpuUs: number;
}

/** Runs `op` `count` times with `concurrency` workers. */
export async function measure(count: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<Sample> {
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await op(next++);
    }),
  );
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { rate: count / (elapsed / 1000), cpuUs: (used.user + used.system) / count };
}

/** Operations per second of `op` run `count` times with `concurrency` workers. */
export async function rate(count: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  return (await measure(count, concurrency, op)).rate;
}

/**
 * Measures each variant `rounds` times, alternating which goes first, and returns the
 * median rate of each. Alternation keeps warm-up and background noise from favouring one.
 */
export async function compare(
  rounds: number,
  variants: Record<string, () => Promise<Sample>>,
): Promise<Record<string, { rate: number; cpuUs: number; rates: number[] }>> {
  const names = Object.keys(variants);
  const results: Record<string, Sample[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const name of names) await variants[name]!(); // warm-up: connections, JIT, caches
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) results[name]!.push(await variants[name]!());
  }
  return Object.fromEntries(
    names.map((n) => {
      const samples = results[n]!;
      const rates = samples.map((s) => s.rate);
      return [n, { rate: median(rates), cpuUs: median(samples.map((s) => s.cpuUs)), rates }];
    }),
  );
}

export const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

/** BEGIN, `body`, COMMIT on one client of `pool` (ROLLBACK when it throws): a transaction as plain pg code writes it. */
export async function plainTransaction(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await body(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The app's send statement of each worker with plain pg: `compile(w, placeholder)` compiles
 * worker w's statement once with `placeholder` as its text; each call swaps in the real
 * text and sends it by name, as the app's prepare() does (parsed once per connection).
 */
export function plainSendStatements(
  pool: pg.Pool,
  workers: number,
  compile: (worker: number, placeholder: string) => CompiledQuery,
): (worker: number, text: string) => Promise<pg.QueryResult<{ id: string | null }>> {
  const PLACEHOLDER = '\u0000content';
  const names = new Map<string, string>();
  const statements = Array.from({ length: workers }, (_, w) => {
    const compiled = compile(w, PLACEHOLDER);
    if (!names.has(compiled.sql)) names.set(compiled.sql, `bench_send_${names.size}`);
    return { name: names.get(compiled.sql)!, text: compiled.sql, parameters: [...compiled.parameters], at: compiled.parameters.indexOf(PLACEHOLDER) };
  });
  return (worker, text) => {
    const s = statements[worker]!;
    const values = [...s.parameters];
    values[s.at] = text;
    return pool.query<{ id: string | null }>({ name: s.name, text: s.text, values });
  };
}

/**
 * VACUUM ANALYZE, then CHECKPOINT: what autovacuum and the checkpointer would have done
 * long before a real database served reads, done before a phase is timed. Without it a
 * phase right after a bulk load (or after the previous phase's burst of writes) measures
 * autovacuum scanning the new rows and the first readers setting their hint bits, not the
 * query: that was most of the p99 of the history pages at the database.
 */
export async function settle(pool: pg.Pool, tables: readonly string[]): Promise<number> {
  const started = performance.now();
  await pool.query(`VACUUM ANALYZE ${tables.join(', ')}`);
  // CHECKPOINT needs a superuser or pg_checkpoint; without, the checkpointer's own pace.
  await pool.query('CHECKPOINT').catch(() => undefined);
  return performance.now() - started;
}
