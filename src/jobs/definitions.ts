// The scheduled jobs and their policies. Each calls into its context (the job is only the
// schedule and the retry policy; the work is the context's function). Every one is
// `stately`: across all nodes at most one runs and at most one waits, so a slow run is
// never overlapped by the next tick and a tick missed during a deploy is not doubled.
import type pg from 'pg';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { EventBus } from '../events/bus.ts';
import { sweepResumeBuffer } from '../gateway/resume.ts';
import { sweepStalePresence } from '../gateway/presence.ts';
import type { Logger } from '../lib/logger.ts';
import { sweepUnclaimedUploads } from '../modules/attachments/service.ts';
import { createAttachmentStorage } from '../modules/attachments/storage.ts';
import { createBackup } from '../modules/backups/service.ts';
import { EVERYONE_MENTION_JOB, fanOutEveryoneMention, type EveryoneMention } from '../modules/groups/channel-notify.ts';
import { sweepDeadInvites } from '../modules/groups/invites.ts';
import { markIdleUsers } from '../modules/presence/idle-sweep.ts';
import { sweepExpiredSessions } from '../modules/sessions/service.ts';
import { sweepExpiredNonces } from '../modules/wallet/queries.ts';
import type { JobPolicy } from './queue.ts';

export interface JobContext {
  database: { db: Db; pool: pg.Pool; url: string };
  config: Config;
  logger: Logger;
  /** The worker's event bus: presence changes made by jobs reach the gateway. */
  events?: EventBus;
}

export interface JobDefinition {
  name: string;
  policy: JobPolicy;
  /** Attempts after the first failure. */
  retryLimit: number;
  /** Seconds before the first retry; with backoff it roughly doubles each time (with jitter). */
  retryDelaySeconds: number;
  retryBackoff: boolean;
  /** A run still active after this is failed (and retried): the limit for a stuck run. */
  expireInSeconds: number;
  schedule?: { cron: string; timeZone: string };
  /** Jobs fetched (and run concurrently) per poll; default 1. */
  batchSize?: number;
  run(ctx: JobContext, data: Record<string, unknown>): Promise<unknown>;
}

export const JOBS = {
  backup: 'backups.daily',
  sessionSweep: 'sessions.sweep-expired',
  idleSweep: 'presence.idle-sweep',
  nonceSweep: 'wallet.sweep-nonces',
  gatewaySweep: 'gateway.sweep',
  uploadSweep: 'attachments.sweep-unclaimed',
  groupEveryoneMention: EVERYONE_MENTION_JOB,
  groupInviteSweep: 'groups.sweep-invites',
} as const;

/** Wallet nonces are kept this long past expiry (a day: enough to diagnose a failed sign-in). */
const NONCE_GRACE_MS = 24 * 3_600_000;

export function scheduledJobs(config: Config): JobDefinition[] {
  return [
    {
      name: JOBS.backup,
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 300,
      retryBackoff: true,
      expireInSeconds: 6 * 3600,
      ...(config.backup.schedule ? { schedule: { cron: config.backup.schedule, timeZone: config.backup.timeZone } } : {}),
      async run({ database, config: c, logger }) {
        const backup = await createBackup(database, c);
        logger.info(
          { location: backup.location, sizeBytes: backup.sizeBytes, sha256: backup.sha256, removed: backup.removed },
          'backup written',
        );
        return { location: backup.location, sizeBytes: backup.sizeBytes, sha256: backup.sha256 };
      },
    },
    {
      name: JOBS.sessionSweep,
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 30,
      retryBackoff: true,
      expireInSeconds: 600,
      schedule: { cron: '*/15 * * * *', timeZone: 'UTC' },
      async run({ database, config: c }) {
        return { deleted: await sweepExpiredSessions(database.db, c.sessions) };
      },
    },
    {
      name: JOBS.idleSweep,
      policy: 'stately',
      retryLimit: 1,
      retryDelaySeconds: 10,
      retryBackoff: false,
      expireInSeconds: 300,
      schedule: { cron: '* * * * *', timeZone: 'UTC' },
      async run({ database, config: c, events }) {
        return { idled: await markIdleUsers(database.db, Math.round(c.presence.idleAfterMs / 1000), events) };
      },
    },
    {
      name: JOBS.nonceSweep,
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 30,
      retryBackoff: true,
      expireInSeconds: 600,
      schedule: { cron: '7 * * * *', timeZone: 'UTC' },
      async run({ database }) {
        return { deleted: await sweepExpiredNonces(database.db, NONCE_GRACE_MS) };
      },
    },
    {
      // Old gateway resume buffers (older than GATEWAY_RESUME_WINDOW), and presence rows of
      // nodes that died (announced offline when the user is connected nowhere else).
      name: JOBS.gatewaySweep,
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 30,
      retryBackoff: true,
      expireInSeconds: 600,
      schedule: { cron: '*/5 * * * *', timeZone: 'UTC' },
      async run({ database, config: c, events }) {
        const events_deleted = await sweepResumeBuffer(database.db, c.gateway.resumeWindowMs);
        const offline = await sweepStalePresence(database.db, events);
        return { events_deleted, offline: offline.length };
      },
    },
    {
      // Uploads no message claimed within a day: rows and files (docs/attachments.md).
      name: JOBS.uploadSweep,
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 60,
      retryBackoff: true,
      expireInSeconds: 1800,
      schedule: { cron: '23 * * * *', timeZone: 'UTC' },
      async run({ database, config: c }) {
        const storage = await createAttachmentStorage(c.attachments);
        try {
          return { deleted: await sweepUnclaimedUploads(database.db, storage) };
        } finally {
          storage.close();
        }
      },
    },
    {
      // A permitted @everyone: a mention to every member who may view the channel, enqueued
      // in the send's transaction (docs/groups.md). Not stately: every message is its own job.
      name: JOBS.groupEveryoneMention,
      policy: 'standard',
      retryLimit: 5,
      retryDelaySeconds: 10,
      retryBackoff: true,
      expireInSeconds: 600,
      batchSize: 4,
      async run({ database, events }, data) {
        return { notified: await fanOutEveryoneMention(database.db, events, data as unknown as EveryoneMention) };
      },
    },
    {
      // Invites that are expired or used up (docs/groups.md).
      name: JOBS.groupInviteSweep,
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 60,
      retryBackoff: true,
      expireInSeconds: 600,
      schedule: { cron: '41 * * * *', timeZone: 'UTC' },
      async run({ database }) {
        return { deleted: await sweepDeadInvites(database.db) };
      },
    },
  ];
}
