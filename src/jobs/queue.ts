// The job queue: pg-boss on the application's own PostgreSQL (the role Oban plays in the
// seed). pg-boss keeps its tables in the `pgboss` schema, which it creates and migrates
// itself when a worker starts (under its own advisory lock); the app's migrations do not
// touch it.
//
// Enqueueing goes through the caller's Kysely connection or transaction, so a job enqueued
// inside a unit of work exists only if that unit commits: a rolled-back request enqueues
// nothing.
import { CompiledQuery, type Kysely } from 'kysely';
import PgBoss from 'pg-boss';
import type { DB } from '../db/schema.ts';

export const JOB_SCHEMA = 'pgboss';

export type JobPolicy = 'standard' | 'singleton' | 'stately';

/** pg-boss's SQL executor over a Kysely instance or transaction. */
export function kyselyExecutor(db: Kysely<DB>): PgBoss.Db {
  return {
    async executeSql(text: string, values: unknown[] = []) {
      const result = await db.executeQuery(CompiledQuery.raw(text, values));
      return { rows: result.rows as any[] };
    },
  };
}

// A pg-boss instance that is never started: only its `send` (validation + the INSERT) is
// used, always with the caller's executor, so it owns no connection.
let producer: PgBoss | undefined;
function sender(): PgBoss {
  producer ??= new PgBoss({
    schema: JOB_SCHEMA,
    db: {
      executeSql: () => Promise.reject(new Error('enqueueJob needs the caller db or transaction')),
    },
  });
  return producer;
}

export type EnqueueOptions = Omit<PgBoss.SendOptions, 'db'>;

/**
 * Enqueues `name` with `data` through `db` (pass the transaction to tie the job to it).
 * Resolves with the job id, or null when the queue's policy dropped it as a duplicate
 * (a `stately` queue already holding a waiting job, a singletonKey in use) or the queue
 * does not exist.
 */
export function enqueueJob(db: Kysely<DB>, name: string, data: object = {}, options: EnqueueOptions = {}): Promise<string | null> {
  return sender().send(name, data, { ...options, db: kyselyExecutor(db) });
}
