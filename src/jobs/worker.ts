// The job worker: started by `cgraph serve` (unless CGRAPH_WORKER=false) and by
// `cgraph worker` alone. It installs pg-boss's schema if needed, declares each job's queue
// and schedule, and works the queues. Every node runs the same worker: pg-boss hands each
// job to one node (SKIP LOCKED), `stately` queues allow one active job across all nodes,
// and each cron tick is sent once whichever nodes see it.
//
// Stopping lets running jobs finish for up to `timeoutMs`; a job still running then is
// failed, so it is retried later (per its retry policy) instead of being lost.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import PgBoss from 'pg-boss';
import type { Config } from '../config.ts';
import { sslOptions } from '../db/database.ts';
import { createEventBus } from '../events/bus.ts';
import { buildFanout } from '../gateway/index.ts';
import { RoomEventProducer } from '../gateway/producer.ts';
import type { Logger } from '../lib/logger.ts';
import { scheduledJobs, type JobContext, type JobDefinition } from './definitions.ts';
import { JOB_SCHEMA } from './queue.ts';

export interface JobWorkerOptions {
  config: Config;
  logger: Logger;
  database: JobContext['database'];
  /** The pg-boss pool's application_name (`cgraph-serve` / `cgraph-worker`: restore looks for them). */
  applicationName: string;
  definitions?: JobDefinition[];
  /** How often an idle worker polls each queue (pg-boss's minimum is 0.5 s). */
  pollingIntervalSeconds?: number;
  /** Extra pg-boss settings (tests: faster cron checks). */
  boss?: Partial<PgBoss.ConstructorOptions>;
}

export interface JobWorker {
  boss: PgBoss;
  definitions: JobDefinition[];
  /** Stops fetching, waits up to `timeoutMs` for running jobs, then fails the rest (they retry). */
  stop(timeoutMs?: number): Promise<void>;
}

/** DATABASE_SSL governs TLS, as for the app's own pool (src/db/database.ts). */
function withoutSslParams(url: string): string {
  const parsed = new URL(url);
  for (const key of ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey']) parsed.searchParams.delete(key);
  return parsed.toString();
}

export async function startJobWorker(options: JobWorkerOptions): Promise<JobWorker> {
  const { config, logger, database } = options;
  const definitions = options.definitions ?? scheduledJobs(config);
  const boss = new PgBoss({
    connectionString: withoutSslParams(database.url),
    ssl: sslOptions(config.database),
    application_name: options.applicationName,
    max: 4,
    schema: JOB_SCHEMA,
    ...options.boss,
  });
  boss.on('error', (error) => logger.error({ err: error }, 'job queue error'));
  await boss.start();

  // Jobs publish domain events too (the idle sweep's presence changes): the worker has its
  // own bus on the cluster's fan-out, and produces their gateway room events itself.
  const redis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 2 }) : undefined;
  redis?.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  const fanout = buildFanout(config, database, logger, redis);
  const events = createEventBus(logger, fanout);
  const producer = new RoomEventProducer({ db: database.db, events, fanout, logger, nodeId: randomUUID() });
  const closeEvents = async () => {
    producer.stop();
    await producer.drain();
    await events.close();
    await fanout.close();
    redis?.disconnect();
  };
  const context: JobContext = { database, config, logger, events };
  // Nodes starting together would run pg-boss's create_queue concurrently, which can
  // deadlock (both insert into pgboss.queue and attach partitions); one node at a time
  // declares queues and schedules, under a session advisory lock on a connection of ours.
  const lock = await database.pool.connect().catch(async (error: unknown) => {
    await boss.stop({ graceful: false, timeout: 1000 }).catch(() => undefined);
    await closeEvents();
    throw error;
  });
  try {
    await lock.query("SELECT pg_advisory_lock(hashtext('cgraph:job-queue-setup'))");
    for (const def of definitions) {
      const queue = {
        name: def.name,
        policy: def.policy,
        retryLimit: def.retryLimit,
        retryDelay: def.retryDelaySeconds,
        retryBackoff: def.retryBackoff,
        expireInSeconds: def.expireInSeconds,
      };
      await boss.createQueue(def.name, queue);
      await boss.updateQueue(def.name, queue); // a queue created by an older release takes the current policy
      if (def.schedule) await boss.schedule(def.name, def.schedule.cron, {}, { tz: def.schedule.timeZone });
      else await boss.unschedule(def.name);
      const batchSize = def.batchSize ?? 1;
      await boss.work<Record<string, unknown>>(
        def.name,
        { batchSize, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2 },
        async (jobs) => {
          // pg-boss waits one polling interval between fetches, so a worker's throughput is
          // batchSize per interval. Each job of a batch succeeds or fails on its own: a
          // failure is recorded for that job (and retried), the rest complete.
          await Promise.all(
            jobs.map(async (job) => {
              const started = performance.now();
              try {
                await def.run(context, job.data ?? {});
                logger.debug({ job: def.name, id: job.id, ms: Math.round(performance.now() - started) }, 'job done');
              } catch (error) {
                logger.warn({ job: def.name, id: job.id, err: error }, 'job failed (it is retried per its policy)');
                await boss.fail(def.name, job.id, { message: error instanceof Error ? error.message : String(error) });
              }
            }),
          );
        },
      );
    }
  } catch (error) {
    await boss.stop({ graceful: false, timeout: 1000 }).catch(() => undefined);
    await closeEvents();
    throw error;
  } finally {
    // A failed unlock: drop the connection, which releases the lock with the session.
    await lock.query("SELECT pg_advisory_unlock(hashtext('cgraph:job-queue-setup'))").then(
      () => lock.release(),
      (error: Error) => lock.release(error),
    );
  }
  logger.info({ jobs: definitions.map((d) => d.name) }, 'job worker started');

  let stopped: Promise<void> | undefined;
  return {
    boss,
    definitions,
    stop(timeoutMs = 25_000) {
      stopped ??= boss.stop({ graceful: true, wait: true, timeout: timeoutMs }).finally(closeEvents);
      return stopped;
    },
  };
}
