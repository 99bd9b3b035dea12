// Presence from connections, across nodes.
//
// users.status is what others see (the seed's model: it defaults to 'offline'). The first
// gateway connection anywhere turns offline or idle into online (dnd is kept: a choice);
// after the last one closes and a grace period passes, online and idle become offline
// (dnd stays stored as the preference, but offline is announced). A user who sets
// 'offline' with PATCH /me while connected is invisible: announced offline, and a second
// tab does not undo it (a new first connection does). Each node keeps a row per connected user in gateway_presence
// and refreshes its rows' seen_at every heartbeat, so a dead node's rows go stale (and the
// sweep job removes them). A change is announced ONCE for the cluster: the first
// connection anywhere announces the status, the last one closing announces offline after a
// grace period (a reload or a hop to another node announces nothing). Both transitions run
// under a per-user advisory lock, so two nodes cannot both (or neither) announce; each is
// one statement (a function of migration 20261126120000), not a seven-round-trip transaction.
// Idle after inactivity is the existing sweep (users.last_active_at, PRESENCE_IDLE_AFTER):
// typing frames count as activity like API requests; a (re)connect turns a swept idle back
// to online.
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../lib/logger.ts';
import { ActivityTracker, FLUSH_EVERY_MS } from '../modules/presence/activity.ts';
import { transaction } from '../db/unit-of-work.ts';
import type { PresenceHooks } from './gateway.ts';

/** Rows not refreshed for this long belong to a node that is gone. */
export const PRESENCE_STALE_SECONDS = 90;
const REFRESH_EVERY_MS = 30_000;

/** The key the presence functions of migration 20261126120000 lock too ('presence:' || id). */
const lockUser = (userId: string) =>
  sql`SELECT pg_advisory_xact_lock(hashtextextended(${`presence:${userId}`}, 0))`;

export class PresenceTracker implements PresenceHooks {
  private readonly local = new Map<string, number>();
  private readonly pendingOffline = new Map<string, NodeJS.Timeout>();
  private readonly work = new Map<string, Promise<void>>();
  private readonly activity: ActivityTracker;
  private readonly refresh: NodeJS.Timeout;

  constructor(
    private readonly deps: { db: Db; events: EventBus; logger: Logger; nodeId: string; graceMs: number },
  ) {
    this.activity = new ActivityTracker(deps.db);
    this.activity.start(FLUSH_EVERY_MS, (error) => deps.logger.warn({ err: error }, 'presence flush failed'));
    this.refresh = setInterval(() => {
      deps.db
        .updateTable('gateway_presence')
        .set({ seen_at: sql<Date>`now()` })
        .where('node_id', '=', deps.nodeId)
        .execute()
        .catch((error: unknown) => deps.logger.warn({ err: error }, 'presence refresh failed'));
    }, REFRESH_EVERY_MS);
    this.refresh.unref();
    // PATCH /me may change the status: announce it, if the user is connected somewhere.
    this.unsubscribe = deps.events.subscribeLocal?.((event) => {
      if (event.type === 'user.updated') this.serial(event.userId, () => this.statusChanged(event.userId));
    });
  }

  private readonly unsubscribe: (() => void) | undefined;

  private async statusChanged(userId: string): Promise<void> {
    const { db, events } = this.deps;
    const row = await db
      .selectFrom('users')
      .select('status')
      .where('id', '=', userId)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('gateway_presence')
            .select('node_id')
            .where('user_id', '=', userId)
            .where('seen_at', '>', sql<Date>`now() - make_interval(secs => ${PRESENCE_STALE_SECONDS})`),
        ),
      )
      .executeTakeFirst();
    if (row) events.publish({ type: 'presence.updated', userId, status: row.status });
  }

  connected(userId: string): void {
    const count = (this.local.get(userId) ?? 0) + 1;
    this.local.set(userId, count);
    const pending = this.pendingOffline.get(userId);
    if (pending) {
      // Back within the grace period: still registered here, nothing to announce.
      clearTimeout(pending);
      this.pendingOffline.delete(userId);
      return;
    }
    if (count === 1) this.serial(userId, () => this.goOnline(userId));
  }

  disconnected(userId: string): void {
    const count = (this.local.get(userId) ?? 0) - 1;
    if (count > 0) return void this.local.set(userId, count);
    this.local.delete(userId);
    if (count < 0) return;
    const timer = setTimeout(() => {
      this.pendingOffline.delete(userId);
      if (!this.local.has(userId)) this.serial(userId, () => this.goOffline(userId));
    }, this.deps.graceMs);
    this.pendingOffline.set(userId, timer);
  }

  active(userId: string): void {
    this.activity.seen(userId);
  }

  /** Waits for announcements in progress (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.work.size > 0) await Promise.all([...this.work.values()]);
  }

  /** Shutdown: this node's rows go (its clients reconnect elsewhere); nothing is announced. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.refresh);
    for (const timer of this.pendingOffline.values()) clearTimeout(timer);
    this.pendingOffline.clear();
    await this.settled();
    await this.activity.stop().catch(() => undefined);
    await this.deps.db.deleteFrom('gateway_presence').where('node_id', '=', this.deps.nodeId).execute();
  }

  private serial(userId: string, fn: () => Promise<void>): void {
    const next = (this.work.get(userId) ?? Promise.resolve()).then(fn).catch((error: unknown) => {
      this.deps.logger.error({ err: error, userId }, 'presence change failed');
    });
    this.work.set(userId, next);
    void next.then(() => {
      if (this.work.get(userId) === next) this.work.delete(userId);
    });
  }

  // Each transition is ONE statement: a function (migration 20261126120000) that takes the
  // user's lock, then reads and writes under it; it commits before anything is announced.
  private async goOnline(userId: string): Promise<void> {
    const { db, events, nodeId } = this.deps;
    const { rows } = await sql<{ status: 'online' | 'idle' | 'dnd' | null }>`
      SELECT cgraph_presence_connect(${userId}, ${nodeId}, ${PRESENCE_STALE_SECONDS}) AS status
    `.execute(db);
    const status = rows[0]?.status;
    if (status) events.publish({ type: 'presence.updated', userId, status });
  }

  private async goOffline(userId: string): Promise<void> {
    const { db, events, nodeId } = this.deps;
    const { rows } = await sql<{ announce: boolean }>`
      SELECT cgraph_presence_disconnect(${userId}, ${nodeId}, ${PRESENCE_STALE_SECONDS}) AS announce
    `.execute(db);
    if (rows[0]?.announce) events.publish({ type: 'presence.updated', userId, status: 'offline' });
  }
}

/**
 * The sweep for nodes that died: removes their stale rows and announces offline for each
 * user left with no live row (under the same lock). Returns the users announced.
 */
export async function sweepStalePresence(db: Db, events?: EventBus): Promise<string[]> {
  const stale = await db
    .deleteFrom('gateway_presence')
    .where('seen_at', '<', sql<Date>`now() - make_interval(secs => ${PRESENCE_STALE_SECONDS})`)
    .returning('user_id')
    .execute();
  const offline: string[] = [];
  for (const userId of new Set(stale.map((r) => r.user_id))) {
    const gone = await transaction(db, async (trx) => {
      await lockUser(userId).execute(trx);
      const live = await trx
        .selectFrom('gateway_presence')
        .select('node_id')
        .where('user_id', '=', userId)
        .where('seen_at', '>', sql<Date>`now() - make_interval(secs => ${PRESENCE_STALE_SECONDS})`)
        .executeTakeFirst();
      if (live) return false;
      const row = await trx.selectFrom('users').select('status').where('id', '=', userId).executeTakeFirst();
      await trx
        .updateTable('users')
        .set({ status: 'offline' })
        .where('id', '=', userId)
        .where('status', 'in', ['online', 'idle'])
        .execute();
      return row !== undefined && row.status !== 'offline';
    });
    if (gone.ok && gone.value) offline.push(userId);
  }
  for (const userId of offline) events?.publish({ type: 'presence.updated', userId, status: 'offline' });
  return offline;
}
