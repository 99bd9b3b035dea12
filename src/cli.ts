// `cgraph …`: the analogue of the seed's mix tasks. Every failure ends with one line on
// stderr (`cgraph: …`) and a non-zero exit code; stack traces only with CGRAPH_DEBUG=1.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { databaseNameOf, dropDatabase, ensureDatabaseExists } from './db/admin.ts';
import {
  checkConnection,
  connectDatabase,
  openDatabase,
  redactUrl,
  resolveDatabaseUrl,
  sslOptions,
  type Database,
} from './db/database.ts';
import { explain } from './db/explain.ts';
import { startJobWorker, type JobWorker } from './jobs/worker.ts';
import { createBackup, restoreBackup } from './modules/backups/service.ts';
import { generateMigration, migrateToLatest, migrationStatus, rollback } from './db/migrator.ts';
import { runSeeds } from './db/seeds.ts';
import { createLogger, type Logger } from './lib/logger.ts';
import { serve } from './server.ts';

class CliError extends Error {
  override readonly name = 'CliError';
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError('must be a whole number of at least 1');
  }
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || !(n > 0)) throw new InvalidArgumentError('must be a number above 0, e.g. 0.01');
  return n;
}

let cached: { config: Config; logger: Logger } | undefined;
function context(): { config: Config; logger: Logger } {
  if (!cached) {
    const config = loadConfig();
    cached = { config, logger: createLogger(config.logLevel) };
  }
  return cached;
}

/**
 * Opens the configured database for one command and always closes it (and stops the
 * embedded server if this command started it). `before` runs first with the URL, for
 * commands that create or drop the database itself.
 */
async function withDatabase<T>(
  fn: (database: Database, config: Config) => Promise<T>,
  before?: (url: string, config: Config) => Promise<void>,
): Promise<T> {
  const { config, logger } = context();
  const target = await resolveDatabaseUrl(config);
  try {
    await before?.(target.url, config);
  } catch (error) {
    await target.embedded?.stop();
    throw error;
  }
  const small = { ...config, database: { ...config.database, poolSize: 2 } };
  const database = connectDatabase(target, small, logger, 'cgraph-cli');
  try {
    await checkConnection(database.pool, database.url);
    return await fn(database, config);
  } finally {
    await database.close();
  }
}

const print = (line: string) => process.stdout.write(`${line}\n`);

export function buildCli(): Command {
  const program = new Command('cgraph')
    .description('Cgraph: a self-hostable community platform backend')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('serve')
    .description('run the HTTP API and gateway (what `npm start` runs)')
    .action(async () => {
      const { config, logger } = context();
      await serve(config, logger);
    });

  program
    .command('worker')
    .description('run only the job worker (scheduled backups and sweeps), without the HTTP API')
    .action(async () => {
      const { config, logger } = context();
      const running: { database?: Database; worker?: JobWorker } = {};
      let stopping = false;
      // Installed first, so a signal during start-up also shuts down cleanly.
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping the job worker (running jobs get 25 s)');
        try {
          await running.worker?.stop(25_000);
        } finally {
          await running.database?.close();
        }
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      const database = await openDatabase(config, logger, 'cgraph-worker');
      running.database = database;
      try {
        await checkConnection(database.pool, database.url);
        running.worker = await startJobWorker({ config, logger, database, applicationName: 'cgraph-worker' });
      } catch (error) {
        await database.close();
        throw error;
      }
    });

  program
    .command('backup')
    .description('pg_dump -Fc the database to BACKUP_DIR (keeping BACKUP_KEEP) or to the S3 bucket when configured')
    .option('--out <file>', 'write the dump to this file instead (no retention)')
    .action(async (options: { out?: string }) => {
      await withDatabase(async ({ pool, url }, config) => {
        const backup = await createBackup({ url, pool }, config, { out: options.out });
        print(`backup ${backup.location}`);
        print(`size ${backup.sizeBytes} bytes, sha256 ${backup.sha256}${backup.parts ? `, ${backup.parts} parts` : ''}`);
        for (const name of backup.removed) print(`removed ${name} (retention: keep ${config.backup.keep})`);
      });
    });

  program
    .command('restore')
    .description('pg_restore a backup (file, name in BACKUP_DIR, or object key) into the database, replacing its contents')
    .argument('<backup>', 'a dump file, a file name in BACKUP_DIR, or an object key in the bucket')
    .option('--force', 'allow in production')
    .option('--while-serving', 'allow while cgraph serve / cgraph worker are connected to the database')
    .action(async (source: string, options: { force?: boolean; whileServing?: boolean }) => {
      await withDatabase(async ({ pool, url }, config) => {
        const result = await restoreBackup({ url, pool }, config, { source, ...options });
        print(`restored ${result.source} into ${databaseNameOf(url)}`);
        print(
          `size ${result.sizeBytes} bytes, sha256 ${result.sha256} (${result.verified ? 'matches its sidecar' : 'no sidecar to check against'})`,
        );
      });
    });

  const db = program.command('db').description('database tasks (migrations, seeds, explain)');

  db.command('migrate')
    .description('run all pending migrations')
    .action(async () => {
      await withDatabase(
        async ({ db: kysely }) => {
          const applied = await migrateToLatest(kysely);
          print(applied.length ? applied.map((name) => `migrated ${name}`).join('\n') : 'already up to date');
        },
        async (url, config) => {
          if (await ensureDatabaseExists(url, { ssl: sslOptions(config.database) })) {
            print(`created database ${databaseNameOf(url)}`);
          }
        },
      );
    });

  db.command('rollback')
    .description('roll back the last N migrations (default 1)')
    .option('--step <n>', 'how many migrations to roll back', positiveInteger, 1)
    .action(async (options: { step: number }) => {
      await withDatabase(async ({ db: kysely }) => {
        const reverted = await rollback(kysely, options.step);
        print(reverted.map((name) => `rolled back ${name}`).join('\n'));
      });
    });

  db.command('status')
    .description('each migration and whether it has run')
    .action(async () => {
      await withDatabase(async ({ db: kysely }) => {
        for (const m of await migrationStatus(kysely)) {
          print(`${m.executedAt ? 'up  ' : 'down'}  ${m.name}${m.executedAt ? `  (${m.executedAt.toISOString()})` : ''}`);
        }
      });
    });

  db.command('reset')
    .description('drop, create and migrate the database (refused in production without --force)')
    .option('--force', 'allow in production')
    .action(async (options: { force?: boolean }) => {
      const { config } = context();
      if (config.env === 'production' && !options.force) {
        throw new CliError('refusing to reset a production database: pass --force if you mean it');
      }
      await withDatabase(
        async ({ db: kysely }) => {
          for (const name of await migrateToLatest(kysely)) print(`migrated ${name}`);
        },
        async (url) => {
          const ssl = sslOptions(config.database);
          await dropDatabase(url, { ssl });
          await ensureDatabaseExists(url, { ssl });
          print(`recreated database ${databaseNameOf(url)}`);
        },
      );
    });

  db.command('seed')
    .description('create the admin user and the default forums (idempotent)')
    .action(async () => {
      await withDatabase(async ({ db: kysely }, config) => {
        const result = await runSeeds(kysely, config);
        print(result.adminCreated ? 'created admin user' : 'admin user exists');
        print(result.forumsCreated.length ? `created forums: ${result.forumsCreated.join(', ')}` : 'default forums exist');
        print('Seeds planted!');
      });
    });

  db.command('gen')
    .description('create a new timestamped migration file with up and down')
    .argument('<name>', 'snake_case name, e.g. add_user_bio')
    .action(async (name: string) => {
      print(`created ${await generateMigration(name)}`);
    });

  db.command('demo')
    .description('generate demo data: users, friendships, DMs and group DMs, messages (scale 1 = 10 million messages), groups with channels, roles and channel messages, forums (scale 1 = 1 million posts, 10 million votes)')
    .option('--scale <n>', 'size relative to 10 million messages, e.g. 0.01 for 100 000', positiveNumber, 1)
    .action(async (options: { scale: number }) => {
      const { generateDemo } = await import('./db/demo-cli.ts');
      const { generateGroupsDemo } = await import('./modules/groups/demo-cli.ts');
      const { generateForumsDemo } = await import('./modules/forums/demo-cli.ts');
      await withDatabase(async (database) => {
        print(await generateDemo(database, options.scale));
        // Groups, channels, roles and channel messages among the users just made.
        print(await generateGroupsDemo(database, options.scale));
        // Forums, posts, polls, votes and comment trees among the same users.
        print(await generateForumsDemo(database, options.scale));
      });
    });

  db.command('explain')
    .description('EXPLAIN ANALYZE a named query or SQL (run in a rolled-back transaction)')
    .argument('<query>', 'a query name (e.g. forum_posts.top) or SQL text')
    .action(async (query: string) => {
      await withDatabase(async ({ pool }) => print(await explain(pool, query)));
    });

  return program;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN') {
      const { config } = cached ?? {};
      const where = config?.database.url ? ` at ${redactUrl(config.database.url)}` : '';
      return `cannot reach the database${where}: ${error.message}`;
    }
    if (error instanceof ConfigError) return error.message;
    return error.message || error.name;
  }
  return String(error);
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its own one-line message (or the help text).
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`cgraph: ${describe(error)}\n`);
    if (process.env.CGRAPH_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

const exitCode = await main(process.argv);
// `serve` and `worker` keep running; every other command ends here.
const longRunning = ['serve', 'worker'].includes(process.argv[2] ?? '');
if (exitCode !== 0 || !longRunning) process.exit(exitCode);
