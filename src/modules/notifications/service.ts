// The notifications context. Other contexts create notifications with ONE function,
// `notify`, inside their own transaction, so a notification exists exactly when the thing
// it announces committed (on a hot path, with its set-based form `notifyRecipientsSql`
// inside their own statement: the same rules, kept here). The list is unread first, then
// newest, keyset-paged across the unread → read boundary by a cursor that carries its phase.
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { TransactionContext } from '../../db/unit-of-work.ts';
import { decodeCursor, encodeCursor, MAX_PAGE_SIZE } from '../../db/pagination.ts';
import type { DomainEvent, EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { isUuid, newId } from '../../lib/ids.ts';
import { blockExists } from '../friends/blocks.ts';
import { findNotification, listPhase, markAllReadQuery, unreadCountQuery, unreadThenReadQuery, type NotificationRow, type Phase } from './queries.ts';

/** Types in use; the column is an open set (`^[a-z_]{1,32}$`), so new ones need no migration. */
export const NOTIFICATION_TYPES = ['friend_request', 'friend_accepted', 'mention', 'reply', 'message'] as const;
export type KnownNotificationType = (typeof NOTIFICATION_TYPES)[number];

export interface NotifyInput {
  /** The recipient. */
  userId: string;
  type: KnownNotificationType | (string & {});
  /** Who caused it; the recipient is skipped when it is themselves or someone they blocked. */
  actorId?: string | null;
  /** Ids, not copies of content: the client fetches what it shows (and may no longer see). */
  data?: Record<string, unknown>;
  /**
   * At most one unread notification per (recipient, key), e.g. `conversation:<id>`: a new
   * one replaces the unread one's type, actor and data and moves it to the top.
   */
  collapseKey?: string | null;
}

export interface Notification {
  id: string;
  userId: string;
  type: string;
  actorId: string | null;
  data: Record<string, unknown>;
  collapseKey: string | null;
  readAt: Date | null;
  insertedAt: Date;
}

/** Where notify() announces what it created once the caller's transaction commits. */
export interface AfterCommitEvents {
  ctx: TransactionContext;
  events: EventBus;
}

export function notificationCreated(n: Pick<Notification, 'id' | 'userId' | 'type'>): DomainEvent {
  return { type: 'notification.created', userId: n.userId, notificationId: n.id, notificationType: n.type };
}

const TYPE = /^[a-z_]{1,32}$/;

/**
 * Creates (or, with a collapse key, refreshes) a notification in the caller's transaction:
 * ONE statement, `INSERT … SELECT … WHERE NOT <recipient blocked actor> ON CONFLICT …`.
 * Returns undefined when the recipient is skipped: the actor themselves, or a user who
 * blocked the actor. The caller is responsible for visibility: notify only about things
 * the recipient can see (a message in a conversation they are in, a post in a forum they
 * can read). Pass `after` to publish `notification.created` once the transaction commits;
 * otherwise publish `notificationCreated(result)` yourself after commit.
 */
export async function notify(trx: Db, input: NotifyInput, after?: AfterCommitEvents): Promise<Notification | undefined> {
  const actorId = input.actorId ?? null;
  if (actorId !== null && actorId === input.userId) return undefined;
  if (!TYPE.test(input.type)) throw new Error(`notify: invalid notification type ${JSON.stringify(input.type)}`);
  const collapseKey = input.collapseKey ?? null;
  if (collapseKey !== null && (collapseKey.length < 1 || collapseKey.length > 200)) {
    throw new Error('notify: a collapse key has 1 to 200 characters');
  }
  const row = await trx
    .insertInto('notifications')
    .columns(['id', 'user_id', 'type', 'actor_id', 'data', 'collapse_key'])
    .expression(
      trx
        .selectNoFrom([
          sql<string>`${newId()}::uuid`.as('id'),
          sql<string>`${input.userId}::uuid`.as('user_id'),
          sql<string>`${input.type}::text`.as('type'),
          sql<string | null>`${actorId}::uuid`.as('actor_id'),
          sql<string>`${JSON.stringify(input.data ?? {})}::jsonb`.as('data'),
          sql<string | null>`${collapseKey}::text`.as('collapse_key'),
        ])
        .where(actorId === null ? sql<boolean>`true` : sql<boolean>`NOT ${blockExists(input.userId, actorId)}`),
    )
    .onConflict((oc) =>
      oc
        .columns(['user_id', 'collapse_key'])
        .where('read_at', 'is', null)
        .where('collapse_key', 'is not', null)
        .doUpdateSet((eb) => ({
          type: eb.ref('excluded.type'),
          actor_id: eb.ref('excluded.actor_id'),
          data: eb.ref('excluded.data'),
          inserted_at: sql<Date>`now()`,
          updated_at: sql<Date>`now()`,
        })),
    )
    .returning(['id', 'user_id', 'type', 'actor_id', 'data', 'collapse_key', 'read_at', 'inserted_at'])
    .executeTakeFirst();
  if (!row) return undefined;
  const created: Notification = {
    id: row.id,
    userId: row.user_id,
    type: row.type,
    actorId: row.actor_id,
    data: row.data as Record<string, unknown>,
    collapseKey: row.collapse_key,
    readAt: row.read_at,
    insertedAt: row.inserted_at,
  };
  if (after) after.ctx.afterCommit(() => after.events.publish(notificationCreated(created)));
  return created;
}

/**
 * notify() for a set of recipients, as the body of a CTE in the caller's own statement (a
 * send takes one round trip for its message and every notification it causes). The same
 * rules as notify(), set-based: `recipients` yields `user_id uuid, type text, data jsonb,
 * collapse_key text`; rows with a NULL type, the actor themselves and recipients who
 * blocked the actor are skipped; a collapse key refreshes the recipient's unread one.
 * Types must match `^[a-z_]{1,32}$` (the column's CHECK) and recipients must be distinct
 * per collapse key. RETURNING `id, user_id, type, data, inserted_at, updated_at` (read_at
 * is NULL: a new row, or a refreshed unread one): publish `notificationCreated()` of each
 * once the caller's transaction has committed.
 */
export function notifyRecipientsSql(recipients: RawBuilder<unknown>, actorId: RawBuilder<string>): RawBuilder<unknown> {
  return sql`
    INSERT INTO notifications (id, user_id, type, actor_id, data, collapse_key)
    SELECT cgraph_uuid_v7(), r.user_id, r.type, ${actorId}, r.data, r.collapse_key
    FROM (${recipients}) AS r
    WHERE r.type IS NOT NULL AND r.user_id <> ${actorId} AND NOT ${blockExists(sql.ref('r.user_id'), actorId)}
    ON CONFLICT (user_id, collapse_key) WHERE read_at IS NULL AND collapse_key IS NOT NULL
    DO UPDATE SET type = excluded.type, actor_id = excluded.actor_id, data = excluded.data,
      inserted_at = now(), updated_at = now()
    RETURNING id, user_id, type, data, inserted_at, updated_at`;
}

// -- reading ---------------------------------------------------------------------------

export interface NotificationView {
  id: string;
  type: string;
  data: Record<string, unknown>;
  actor: { id: string; username: string; display_name: string | null; avatar_url: string | null } | null;
  read: boolean;
  read_at: string | null;
  inserted_at: string;
  updated_at: string;
}

export function toView(row: NotificationRow): NotificationView {
  return {
    id: row.id,
    type: row.type,
    data: (row.data ?? {}) as Record<string, unknown>,
    actor:
      row.actor_id !== null && row.actor_username !== null
        ? { id: row.actor_id, username: row.actor_username, display_name: row.actor_display_name, avatar_url: row.actor_avatar_url }
        : null,
    read: row.read_at !== null,
    read_at: row.read_at?.toISOString() ?? null,
    inserted_at: row.inserted_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface ListOptions {
  unreadOnly?: boolean;
  limit: number;
  cursor?: string | null | undefined;
}

const PHASE_CODE: Record<Phase, string> = { unread: 'u', read: 'r' };

function invalidCursor(): AppError {
  return new AppError('invalid_cursor', 'the cursor is not valid for this list', 400);
}

// A cursor is [phase, inserted_at as PostgreSQL prints it, id]: the last row shown and the
// phase it came from. Checked here so a forged one is a 400, never a database error.
function parseCursor(cursor: string, unreadOnly: boolean): { phase: Phase; after: [string, string] } {
  const [code, at, id] = decodeCursor(cursor, 3) as [string, string, string];
  const phase = code === 'u' ? 'unread' : code === 'r' ? 'read' : undefined;
  if (!phase || (unreadOnly && phase === 'read')) throw invalidCursor();
  if (!isUuid(id) || !/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:\d{2})?|Z)$/.test(at)) throw invalidCursor();
  if (Number.isNaN(Date.parse(at.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00')))) throw invalidCursor();
  return { phase, after: [at, id] };
}

/**
 * A page of the user's notifications: unread ones newest first, then read ones newest
 * first. One statement per page: from the unread phase, the read phase runs inside the
 * same statement only when the unread rows do not fill the page (unreadThenReadQuery).
 * A notification read between two page requests may show once in each phase; none is
 * ever skipped.
 */
export async function listNotifications(
  db: Db,
  userId: string,
  opts: ListOptions,
): Promise<{ data: NotificationView[]; next_cursor: string | null }> {
  if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_PAGE_SIZE) {
    throw new ValidationError({ limit: [`must be between 1 and ${MAX_PAGE_SIZE}`] });
  }
  const unreadOnly = opts.unreadOnly ?? false;
  const start = opts.cursor ? parseCursor(opts.cursor, unreadOnly) : { phase: 'unread' as Phase, after: undefined };
  let rows: Array<NotificationRow & { phase: Phase }>;
  try {
    if (start.phase === 'unread' && !unreadOnly) {
      rows = (await unreadThenReadQuery(db, userId, opts.limit + 1, start.after).execute(db)).rows;
    } else {
      const found = await listPhase(db, userId, start.phase, opts.limit + 1, start.after);
      rows = found.map((row) => ({ ...row, phase: start.phase }));
    }
  } catch (error) {
    if (opts.cursor && /^22/.test(String((error as { code?: unknown }).code))) throw invalidCursor();
    throw error;
  }
  const page = rows.slice(0, opts.limit);
  const last = page.at(-1);
  const next_cursor = rows.length > opts.limit && last ? encodeCursor([PHASE_CODE[last.phase], last.cursor_at, last.id]) : null;
  return { data: page.map(toView), next_cursor };
}

export async function unreadCount(db: Db, userId: string): Promise<number> {
  const row = await unreadCountQuery(db, userId).executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Marks one of the user's notifications read (idempotent); another user's is not found. */
export async function markRead(db: Db, events: EventBus, userId: string, id: string): Promise<NotificationView> {
  const updated = await db
    .updateTable('notifications')
    .set({ read_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .where('read_at', 'is', null)
    .executeTakeFirst();
  const row = await findNotification(db, userId, id);
  if (!row) throw new NotFoundError('notification');
  if (updated.numUpdatedRows > 0n) events.publish({ type: 'notifications.read', userId, notificationIds: [id] });
  return toView(row);
}

/** Marks all the user's unread notifications read in ONE statement; returns how many. */
export async function markAllRead(db: Db, events: EventBus, userId: string): Promise<number> {
  const result = await markAllReadQuery(db, userId).executeTakeFirst();
  const marked = Number(result.numUpdatedRows);
  if (marked > 0) events.publish({ type: 'notifications.read', userId, notificationIds: 'all' });
  return marked;
}

/**
 * Marks read the recipient's unread friend_request notifications from `requesterId`: the
 * request has been answered (called by the friends context inside its transaction).
 */
export async function markRequestNotificationsRead(trx: Db, recipientId: string, requesterId: string): Promise<void> {
  await trx
    .updateTable('notifications')
    .set({ read_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('user_id', '=', recipientId)
    .where('actor_id', '=', requesterId)
    .where('type', '=', 'friend_request')
    .where('read_at', 'is', null)
    .execute();
}
