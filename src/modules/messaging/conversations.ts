// Conversations: 1:1 DMs and group DMs, their participants, names and mute flags, and the
// caller's list with unread counts. Everything under a conversation is visible to its
// participants only: for anyone else it does not exist (404).
//
// Unread count = conversations.last_message_seq − participant.last_read_seq: two integers
// on rows the list reads anyway, so it costs the same with 1 or 10 000 unread messages.
import { sql, type RawBuilder } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { Db } from '../../db/database.ts';
import { decodeCursor, encodeCursor, invalidCursor, isBadInput, MAX_PAGE_SIZE } from '../../db/pagination.ts';
import { prepare } from '../../db/prepared.ts';
import { isoText, renderedPage, type RenderedPageRow } from '../../db/rendered.ts';
import { fail, transaction } from '../../db/unit-of-work.ts';
import type { DomainEvent, EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { isUuid, newId } from '../../lib/ids.ts';
import { RenderedJson } from '../../lib/rendered-json.ts';
import { blockedEitherWayAmong, blockExists } from '../friends/blocks.ts';
import { CONVERSATION } from './location.ts';
import { appendMessage, type MessageRow } from './messages.ts';

/** Most participants of a group DM, the creator included. */
export const MAX_GROUP_PARTICIPANTS = 25;
export const CONVERSATION_NAME_MAX = 100;

export interface ParticipantView {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
  joined_at: string;
}

export interface ConversationView {
  id: string;
  is_group: boolean;
  name: string | null;
  owner_id: string | null;
  last_message_at: string | null;
  last_message_seq: number;
  last_read_seq: number;
  unread_count: number;
  muted: boolean;
  participants: ParticipantView[];
  inserted_at: string;
}

/** The caller's participation in a conversation, as the access checks need it. */
export interface Membership {
  conversationId: string;
  isGroup: boolean;
  ownerId: string | null;
  /** A 1:1 DM whose two users have a block between them (either way). */
  blocked: boolean;
}

/**
 * Is conversation `c` a 1:1 DM with a block between its two users (either way)? For
 * embedding in a statement that has the conversation as `c`.
 */
export function dmBlocked(): RawBuilder<boolean> {
  const low = sql.ref<string>('c.dm_user_low_id');
  const high = sql.ref<string>('c.dm_user_high_id');
  return sql<boolean>`(NOT c.is_group AND (${blockExists(low, high)} OR ${blockExists(high, low)}))`;
}

/** The caller's membership, with the DM block flag in the same statement; 404 for non-participants. */
export async function requireParticipant(
  db: Db,
  conversationId: string,
  userId: string,
): Promise<Membership> {
  const row = await db
    .selectFrom('conversation_participants as p')
    .innerJoin('conversations as c', 'c.id', 'p.conversation_id')
    .select([
      'c.is_group',
      'c.owner_id',
      dmBlocked().as('blocked'),
    ])
    .where('p.conversation_id', '=', conversationId)
    .where('p.user_id', '=', userId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('conversation');
  return { conversationId, isGroup: row.is_group, ownerId: row.owner_id, blocked: row.blocked };
}

// -- views ----------------------------------------------------------------------------

/** The caller's conversations with their participants: one statement (jsonArrayFrom). */
export function conversationsOf(db: Db, userId: string) {
  // No table aliases here: keysetPage takes a query over the schema's own table names.
  return db
    .selectFrom('conversation_participants')
    .innerJoin('conversations', 'conversations.id', 'conversation_participants.conversation_id')
    .where('conversation_participants.user_id', '=', userId)
    .select((eb) => [
      'conversation_participants.conversation_id',
      'conversation_participants.last_read_seq',
      'conversation_participants.muted',
      'conversations.is_group',
      'conversations.name',
      'conversations.owner_id',
      'conversations.last_message_at',
      'conversations.last_message_seq',
      'conversations.inserted_at',
      jsonArrayFrom(
        eb
          .selectFrom('conversation_participants as pp')
          .innerJoin('users as u', 'u.id', 'pp.user_id')
          .select(['u.id', 'u.username', 'u.display_name', 'u.avatar_url', 'pp.joined_at'])
          .whereRef('pp.conversation_id', '=', 'conversation_participants.conversation_id')
          .orderBy('pp.joined_at')
          .orderBy('u.id'),
      ).as('participants'),
    ]);
}

type ConversationRow = Awaited<ReturnType<ReturnType<typeof conversationsOf>['executeTakeFirstOrThrow']>>;

// Timestamps inside JSON come back as PostgreSQL prints them ("…+00:00"), not as Dates.
const iso = (value: Date | string) => new Date(value).toISOString();

function toView(row: ConversationRow): ConversationView {
  return {
    id: row.conversation_id,
    is_group: row.is_group,
    name: row.name,
    owner_id: row.owner_id,
    last_message_at: row.last_message_at?.toISOString() ?? null,
    last_message_seq: row.last_message_seq,
    last_read_seq: row.last_read_seq,
    unread_count: Math.max(0, row.last_message_seq - row.last_read_seq),
    muted: row.muted,
    participants: row.participants.map((p) => ({ ...p, joined_at: iso(p.joined_at) })),
    inserted_at: row.inserted_at.toISOString(),
  };
}

interface ListParams extends Record<string, unknown> {
  userId: string;
  afterAt: string | undefined;
  afterId: string | undefined;
  limit: number;
  fetch: number;
}

/** toView in SQL, for a row of conversation_participants (cp) joined to conversations (c). */
const conversationJson = sql<unknown>`json_build_object(
  'id', c.id, 'is_group', c.is_group, 'name', c.name, 'owner_id', c.owner_id,
  'last_message_at', ${isoText('c.last_message_at')}, 'last_message_seq', c.last_message_seq,
  'last_read_seq', cp.last_read_seq, 'unread_count', greatest(0, c.last_message_seq - cp.last_read_seq),
  'muted', cp.muted,
  'participants', (
    SELECT coalesce(json_agg(json_build_object(
      'id', u.id, 'username', u.username, 'display_name', u.display_name, 'avatar_url', u.avatar_url,
      'joined_at', ${isoText('pp.joined_at')}) ORDER BY pp.joined_at, u.id), '[]'::json)
    FROM conversation_participants AS pp JOIN users AS u ON u.id = pp.user_id
    WHERE pp.conversation_id = cp.conversation_id),
  'inserted_at', ${isoText('c.inserted_at')})`;

/** One page of the list: a range of the participants' (user_id, last_activity_at, conversation_id) index. */
export function conversationPageQuery(db: Db, after: boolean, p: ListParams) {
  let range = db
    .selectFrom('conversation_participants as cp')
    .innerJoin('conversations as c', 'c.id', 'cp.conversation_id')
    .where('cp.user_id', '=', p.userId)
    .select(['cp.conversation_id as id', 'cp.last_activity_at as at', conversationJson.as('view')]);
  if (after) {
    range = range.where(sql<boolean>`(cp.last_activity_at, cp.conversation_id) < (${p.afterAt}::timestamptz, ${p.afterId}::uuid)`);
  }
  const ordered = range.orderBy('cp.last_activity_at', 'desc').orderBy('cp.conversation_id', 'desc').limit(p.fetch);
  const order = sql`r.at DESC, r.id DESC`;
  return { compile: () => renderedPage(ordered, { order, display: sql`v.n`, limit: p.limit, keys: ['at', 'id'] }).compile(db) };
}

const firstPage = prepare((db, p: ListParams) => conversationPageQuery(db, false, p));
const laterPage = prepare((db, p: ListParams) => conversationPageQuery(db, true, p));

/**
 * The caller's conversations, newest activity first, keyset-paged on (last_activity_at,
 * conversation_id): one range of the participants' own index, rendered as JSON by
 * PostgreSQL (the shape of ConversationView pages).
 */
export async function listConversations(
  db: Db,
  userId: string,
  opts: { limit: number; cursor?: string | undefined },
): Promise<RenderedJson<{ data: ConversationView[]; next_cursor: string | null }>> {
  if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_PAGE_SIZE) {
    throw new ValidationError({ limit: [`must be between 1 and ${MAX_PAGE_SIZE}`] });
  }
  const [afterAt, afterId] = opts.cursor ? decodeCursor(opts.cursor, 2) : [undefined, undefined];
  if (afterId !== undefined && !isUuid(afterId)) throw invalidCursor();
  const params = { userId, afterAt, afterId, limit: opts.limit, fetch: opts.limit + 1 };
  let row: RenderedPageRow | undefined;
  try {
    [row] = await (opts.cursor ? laterPage : firstPage)(db, params);
  } catch (error) {
    // A cursor that decodes but whose time does not parse: the client's fault.
    if (opts.cursor && isBadInput(error)) throw invalidCursor();
    throw error;
  }
  const more = row!.rows > opts.limit && row!.last !== null;
  const next_cursor = more ? encodeCursor(JSON.parse(row!.last!) as string[]) : null;
  return new RenderedJson(`{"data":${row!.data},"next_cursor":${JSON.stringify(next_cursor)}}`, Math.min(row!.rows, opts.limit));
}

export async function getConversation(
  db: Db,
  userId: string,
  conversationId: string,
): Promise<ConversationView> {
  const row = await conversationsOf(db, userId)
    .where('conversation_participants.conversation_id', '=', conversationId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('conversation');
  return toView(row);
}

// -- activity shared with sending --------------------------------------------------------

/**
 * After a message (or system message) at `seq`: every participant's last_activity_at moves
 * to its time, and `readerId` (the sender) has read it: own messages never count as
 * unread. Returns the participants, for notifications.
 */
export async function touchParticipants(
  trx: Db,
  conversationId: string,
  readerId: string | null,
  message: MessageRow,
) {
  return trx
    .updateTable('conversation_participants')
    .set({
      last_activity_at: message.inserted_at,
      last_read_seq: sql<number>`CASE WHEN user_id = ${readerId}::uuid THEN greatest(last_read_seq, ${message.seq}::bigint) ELSE last_read_seq END`,
      last_read_at: sql<Date | null>`CASE WHEN user_id = ${readerId}::uuid THEN now() ELSE last_read_at END`,
    })
    .where('conversation_id', '=', conversationId)
    .returning(['user_id', 'muted'])
    .execute();
}

/** A system message (join, leave, rename): JSON content, no sender; the actor has read it. */
async function postSystemMessage(
  trx: Db,
  conversationId: string,
  actorId: string,
  event: Record<string, unknown>,
): Promise<MessageRow> {
  const content = JSON.stringify({ ...event, actor_id: actorId });
  const row = await appendMessage(trx, CONVERSATION, {
    containerId: conversationId,
    senderId: null,
    content,
    type: 'system',
  });
  if (!row) throw new Error('unreachable: a system message has no nonce');
  await touchParticipants(trx, conversationId, actorId, row);
  return row;
}

const created = (conversationId: string, messageId: string): DomainEvent => ({
  type: 'message.created',
  location: 'conversation',
  containerId: conversationId,
  messageId,
  senderId: null,
});

// -- create ---------------------------------------------------------------------------

function checkName(name: string | null | undefined): string | null {
  const trimmed = name?.trim() ?? '';
  if (trimmed.length > CONVERSATION_NAME_MAX)
    throw new ValidationError({ name: [`should be at most ${CONVERSATION_NAME_MAX} character(s)`] });
  return trimmed.length ? trimmed : null;
}

/**
 * One other user → THE 1:1 DM of the pair (created once: the unique pair index makes two
 * simultaneous creations meet in one row); more → a new group DM owned by the creator.
 */
export async function createConversation(
  db: Db,
  events: EventBus,
  creatorId: string,
  input: { user_ids: string[]; name?: string | null | undefined },
): Promise<{ conversation: ConversationView; created: boolean }> {
  const others = [...new Set(input.user_ids.map((id) => id.toLowerCase()))].filter((id) => id !== creatorId);
  if (others.length === 0) throw new ValidationError({ user_ids: ['must name at least one other user'] });
  if (others.length + 1 > MAX_GROUP_PARTICIPANTS) {
    throw new ValidationError({
      user_ids: [`a group DM has at most ${MAX_GROUP_PARTICIPANTS} participants`],
    });
  }
  const name = checkName(input.name);
  if (others.length === 1 && name !== null)
    throw new ValidationError({ name: ['only a group DM (two or more other users) has a name'] });
  const found = await db.selectFrom('users').select('id').where('id', 'in', others).execute();
  if (found.length !== others.length)
    throw new ValidationError({ user_ids: ['contains users that do not exist'] });
  if ((await blockedEitherWayAmong(db, creatorId, others)).size > 0) {
    throw new AppError(
      'conversation_blocked',
      'you cannot start a conversation with a user you blocked or who blocked you',
      403,
    );
  }

  const outcome = await transaction(db, async (trx) => {
    if (others.length === 1) {
      const [low, high] = [creatorId, others[0]!].sort() as [string, string];
      const inserted = await trx
        .insertInto('conversations')
        .values({ id: newId(), is_group: false, dm_user_low_id: low, dm_user_high_id: high })
        .onConflict((oc) => oc.columns(['dm_user_low_id', 'dm_user_high_id']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!inserted) {
        // The pair's DM exists (or a concurrent creator just committed it): this statement
        // sees it, since each statement reads the latest committed rows.
        const existing = await trx
          .selectFrom('conversations')
          .select('id')
          .where('dm_user_low_id', '=', low)
          .where('dm_user_high_id', '=', high)
          .executeTakeFirstOrThrow();
        return { id: existing.id, created: false };
      }
      await trx
        .insertInto('conversation_participants')
        .values([low, high].map((user_id) => ({ id: newId(), conversation_id: inserted.id, user_id })))
        .execute();
      return { id: inserted.id, created: true };
    }
    const id = newId();
    await trx.insertInto('conversations').values({ id, is_group: true, name, owner_id: creatorId }).execute();
    await trx
      .insertInto('conversation_participants')
      .values([creatorId, ...others].map((user_id) => ({ id: newId(), conversation_id: id, user_id })))
      .execute();
    return { id, created: true };
  });
  if (!outcome.ok) throw new Error('unreachable: createConversation never fails by value');
  if (outcome.value.created)
    events.publish({ type: 'conversation.updated', conversationId: outcome.value.id });
  return {
    conversation: await getConversation(db, creatorId, outcome.value.id),
    created: outcome.value.created,
  };
}

// -- update ---------------------------------------------------------------------------

/** PATCH: `name` (group DMs; posts a rename system message) and the caller's own `muted`. */
export async function updateConversation(
  db: Db,
  events: EventBus,
  userId: string,
  conversationId: string,
  input: { name?: string | null | undefined; muted?: boolean | undefined },
): Promise<ConversationView> {
  const membership = await requireParticipant(db, conversationId, userId);
  if (input.name !== undefined && !membership.isGroup) {
    throw new AppError('not_group_conversation', 'only a group DM has a name', 422, {
      name: ['only a group DM has a name'],
    });
  }
  const name = input.name === undefined ? undefined : checkName(input.name);
  const published: DomainEvent[] = [];
  const outcome = await transaction(db, async (trx, ctx) => {
    if (name !== undefined) {
      const renamed = await trx
        .updateTable('conversations')
        .set({ name, updated_at: sql<Date>`now()` })
        .where('id', '=', conversationId)
        .where(sql<boolean>`name IS DISTINCT FROM ${name}::text`)
        .executeTakeFirst();
      if (renamed.numUpdatedRows > 0n) {
        const message = await postSystemMessage(trx, conversationId, userId, { event: 'renamed', name });
        published.push({ type: 'conversation.updated', conversationId }, created(conversationId, message.id));
      }
    }
    if (input.muted !== undefined) {
      await trx
        .updateTable('conversation_participants')
        .set({ muted: input.muted, updated_at: sql<Date>`now()` })
        .where('conversation_id', '=', conversationId)
        .where('user_id', '=', userId)
        .execute();
    }
    ctx.afterCommit(() => published.forEach((event) => events.publish(event)));
    return null;
  });
  if (!outcome.ok) throw new Error('unreachable');
  return getConversation(db, userId, conversationId);
}

// -- participants -------------------------------------------------------------------------

async function lockConversation(trx: Db, conversationId: string) {
  return trx
    .selectFrom('conversations')
    .select(['id', 'owner_id', 'last_message_seq'])
    .where('id', '=', conversationId)
    .forUpdate()
    .executeTakeFirst();
}

/** Adds a user to a group DM (any participant may); idempotent. */
export async function addParticipant(
  db: Db,
  events: EventBus,
  actorId: string,
  conversationId: string,
  userId: string,
): Promise<ConversationView> {
  const membership = await requireParticipant(db, conversationId, actorId);
  if (!membership.isGroup)
    throw new AppError('not_group_conversation', 'participants can only be added to a group DM', 422);
  const user = await db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  if (!user) throw new ValidationError({ user_id: ['does not exist'] });
  if ((await blockedEitherWayAmong(db, actorId, [userId])).size > 0) {
    throw new AppError('conversation_blocked', 'you cannot add a user you blocked or who blocked you', 403);
  }
  const outcome = await transaction(db, async (trx, ctx) => {
    // The row lock serialises joins, so the cap holds under concurrent adds.
    const conversation = await lockConversation(trx, conversationId);
    if (!conversation) return fail(new NotFoundError('conversation'));
    const { count } = await trx
      .selectFrom('conversation_participants')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('conversation_id', '=', conversationId)
      .executeTakeFirstOrThrow();
    const inserted = await trx
      .insertInto('conversation_participants')
      .values({
        id: newId(),
        conversation_id: conversationId,
        user_id: userId,
        last_read_seq: conversation.last_message_seq,
      })
      .onConflict((oc) => oc.columns(['conversation_id', 'user_id']).doNothing())
      .returning('user_id')
      .executeTakeFirst();
    if (!inserted) return null;
    if (Number(count) >= MAX_GROUP_PARTICIPANTS) {
      return fail(
        new AppError(
          'conversation_full',
          `a group DM has at most ${MAX_GROUP_PARTICIPANTS} participants`,
          409,
        ),
      );
    }
    const message = await postSystemMessage(trx, conversationId, actorId, {
      event: 'participant_added',
      user_id: userId,
    });
    ctx.afterCommit(() => {
      events.publish({ type: 'participant.joined', conversationId, userId });
      events.publish(created(conversationId, message.id));
    });
    return null;
  });
  if (!outcome.ok) throw outcome.error;
  return getConversation(db, actorId, conversationId);
}

/**
 * Leave (userId = the actor) or remove (the owner only). The last one out deletes the
 * conversation; an owner who leaves hands ownership to the longest-standing participant.
 */
export async function removeParticipant(
  db: Db,
  events: EventBus,
  actorId: string,
  conversationId: string,
  userId: string,
): Promise<void> {
  const membership = await requireParticipant(db, conversationId, actorId);
  if (!membership.isGroup) throw new AppError('not_group_conversation', 'a 1:1 DM cannot be left', 422);
  if (userId !== actorId && membership.ownerId !== actorId) {
    throw new AppError(
      'not_conversation_owner',
      'only the owner of the group DM may remove someone else',
      403,
    );
  }
  const outcome = await transaction(db, async (trx, ctx) => {
    const conversation = await lockConversation(trx, conversationId);
    if (!conversation) return fail(new NotFoundError('conversation'));
    const removed = await trx
      .deleteFrom('conversation_participants')
      .where('conversation_id', '=', conversationId)
      .where('user_id', '=', userId)
      .returning('user_id')
      .executeTakeFirst();
    if (!removed) return fail(new NotFoundError('participant'));
    const heir = await trx
      .selectFrom('conversation_participants')
      .select('user_id')
      .where('conversation_id', '=', conversationId)
      .orderBy('joined_at')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    if (!heir) {
      await trx.deleteFrom('conversations').where('id', '=', conversationId).execute();
      ctx.afterCommit(() => events.publish({ type: 'participant.left', conversationId, userId }));
      return null;
    }
    if (conversation.owner_id === userId) {
      await trx
        .updateTable('conversations')
        .set({ owner_id: heir.user_id, updated_at: sql<Date>`now()` })
        .where('id', '=', conversationId)
        .execute();
    }
    const event =
      userId === actorId
        ? { event: 'participant_left', user_id: userId }
        : { event: 'participant_removed', user_id: userId };
    const message = await postSystemMessage(trx, conversationId, actorId, event);
    ctx.afterCommit(() => {
      events.publish({ type: 'participant.left', conversationId, userId });
      if (conversation.owner_id === userId) events.publish({ type: 'conversation.updated', conversationId });
      events.publish(created(conversationId, message.id));
    });
    return null;
  });
  if (!outcome.ok) throw outcome.error;
}
