// `cgraph serve`: open the database (embedded when DATABASE_URL is unset), build the app,
// listen, and shut down gracefully: stop accepting, let in-flight requests finish, then
// close the pool and stop the embedded PostgreSQL.
import { Redis } from 'ioredis';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { checkConnection, openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrator.ts';
import { startJobWorker, type JobWorker } from './jobs/worker.ts';
import type { Logger } from './lib/logger.ts';

export async function serve(config: Config, logger: Logger): Promise<void> {
  const database = await openDatabase(config, logger, 'cgraph-serve');
  try {
    await checkConnection(database.pool, database.url);
    if (config.migrateOnStart) {
      const applied = await migrateToLatest(database.db);
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    }
  } catch (error) {
    await database.close();
    throw error;
  }
  const redis = config.redisUrl ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 }) : undefined;
  redis?.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  const app = await buildApp({ config, database, logger, redis });
  // The job worker shares the process (its own small pool, named cgraph-serve too, so a
  // restore sees it); CGRAPH_WORKER=false leaves the jobs to other nodes or `cgraph worker`.
  let worker: JobWorker | undefined;
  try {
    if (config.worker.enabled) worker = await startJobWorker({ config, logger, database, applicationName: 'cgraph-serve' });
  } catch (error) {
    await app.close();
    redis?.disconnect();
    await database.close();
    throw error;
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took over 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    // Keep-alive connections that finish their request after close() began would hold the
    // server open until the client lets go; close each one as soon as it goes idle.
    const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
    try {
      // In-flight requests and running jobs finish side by side (jobs get 25 s, then are
      // failed and retried later by any node).
      await Promise.all([app.close(), worker?.stop(25_000)]);
    } finally {
      clearInterval(reaper);
      redis?.disconnect();
      await database.close();
    }
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  const address = await app.listen({ host: config.http.host, port: config.http.port });
  // Set by bin/cgraph.mjs: the compiled build or the sources through tsx (and why).
  const code = process.env.CGRAPH_RUNNING_FROM ?? 'sources';
  logger.info(
    { address, database: database.embedded ? `embedded PostgreSQL on port ${database.embedded.port}` : 'DATABASE_URL', code },
    'cgraph listening',
  );
  if (config.env === 'production' && code !== 'build') {
    logger.warn({ code }, 'running from the TypeScript sources: `npm run build` gives a compiled server that needs ~45 MB less memory');
  }
}
