// Activity tracking for presence: users.last_active_at, which the idle sweep reads.
//
// Never a write per request: authenticated requests only note the user in memory
// (ActivityTracker.seen), and the node writes what it noted every FLUSH_EVERY_MS in ONE
// UPDATE for all of them (and once more when the app closes). A user is noted at most once
// a minute per node, and the UPDATE's WHERE skips users some node touched in the last
// minute, so activity costs O(active users / minute), not O(requests). The stamp is
// PostgreSQL's now(), the clock the sweep compares with; it lags real activity by at most
// the flush interval, nothing next to the sweep's hour.
//
// Activity does not change `status`: an 'idle' chosen by the user and one set by the
// sweep look the same in the table, so returning to online is the client's call (PATCH
// /me, or the gateway's identify in the realtime issue).
import { sql } from 'kysely';
import type { FastifyPluginAsync } from 'fastify';
import type { Db } from '../../db/database.ts';
import type { Logger } from '../../lib/logger.ts';

export const PRESENCE_TOUCH_INTERVAL_SECONDS = 60;
export const FLUSH_EVERY_MS = 15_000;
const CHUNK = 5_000;

/**
 * Records activity now for the given users, except those whose activity was recorded in
 * the last `intervalSeconds`: ONE statement. Returns how many rows it wrote.
 */
export async function touchPresence(db: Db, userIds: string | readonly string[], intervalSeconds = PRESENCE_TOUCH_INTERVAL_SECONDS): Promise<number> {
  const ids = typeof userIds === 'string' ? [userIds] : [...userIds];
  if (ids.length === 0) return 0;
  const result = await db
    .updateTable('users')
    .set({ last_active_at: sql<Date>`now()` })
    .where('id', '=', sql<string>`ANY(${ids}::uuid[])`)
    .where((eb) =>
      eb.or([
        eb('last_active_at', 'is', null),
        eb('last_active_at', '<', sql<Date>`now() - make_interval(secs => ${intervalSeconds})`),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The per-node buffer in front of touchPresence. */
export class ActivityTracker {
  private readonly noted = new Map<string, number>();
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly options: { intervalMs?: number; maxNoted?: number } = {},
  ) {}

  private get intervalMs(): number {
    return this.options.intervalMs ?? PRESENCE_TOUCH_INTERVAL_SECONDS * 1000;
  }

  /** Notes activity (no I/O); the user is written at the next flush unless noted within the interval. */
  seen(userId: string, now = Date.now()): void {
    const last = this.noted.get(userId);
    if (last !== undefined && now - last < this.intervalMs) return;
    if (this.noted.size >= (this.options.maxNoted ?? 100_000)) this.noted.clear();
    this.noted.set(userId, now);
    this.pending.add(userId);
  }

  /** Writes every noted user: one UPDATE per 5 000 users. Returns how many rows it wrote. */
  async flush(): Promise<number> {
    if (this.pending.size === 0) return 0;
    const ids = [...this.pending];
    this.pending = new Set();
    let written = 0;
    for (let i = 0; i < ids.length; i += CHUNK) {
      written += await touchPresence(this.db, ids.slice(i, i + CHUNK), Math.floor(this.intervalMs / 1000));
    }
    return written;
  }

  start(everyMs: number, onError: (error: unknown) => void): void {
    this.timer ??= setInterval(() => void this.flush().catch(onError), everyMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is still pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/**
 * Notes the caller as active after each authenticated request of the scope it is
 * registered in (the API): an onResponse hook, in memory only; the tracker writes every
 * FLUSH_EVERY_MS and when the app closes.
 */
export function presenceTracking({ db, logger }: { db: Db; logger: Logger }): FastifyPluginAsync {
  const tracker = new ActivityTracker(db);
  const plugin: FastifyPluginAsync = async (app) => {
    tracker.start(FLUSH_EVERY_MS, (error) => logger.warn({ err: error }, 'presence flush failed'));
    app.addHook('onResponse', async (request) => {
      const userId = request.auth?.user.id;
      if (userId) tracker.seen(userId);
    });
    app.addHook('onClose', async () => {
      await tracker.stop().catch((error: unknown) => logger.warn({ err: error }, 'presence flush failed'));
    });
  };
  // Not encapsulated (what fastify-plugin does): the hooks apply to the sibling route plugins.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
