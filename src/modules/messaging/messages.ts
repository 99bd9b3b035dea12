// The message store, shared by direct messages and channel messages (location.ts): send
// (seq counter + idempotent nonce), views (sender, reactions and attachments in the same
// statement), edit, soft delete, reactions and read positions; history pages are in
// history.ts. It knows nothing about who
// may do what: the owning context checks access first and then calls in here, passing its
// transaction where the work is part of a larger unit.
//
// Both tables have the same columns, so the queries are written once against `messages`
// and the location supplies the real table and container column names at run time (the
// casts below are the only place that pretends; the SQL always names the right table).
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../db/database.ts';
import { prepareShapes } from '../../db/prepared.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { attachmentUrl, contentTypesOf, type AttachmentView } from '../attachments/service.ts';
import type { MessageLocation } from './location.ts';

/**
 * The default longest message text, in characters; `MESSAGE_MAX_LENGTH` in the environment
 * (config.messages.maxLength) overrides it, up to the database's CHECK of 16 000.
 */
export const MESSAGE_MAX_LENGTH = 4000;
/** Distinct emoji one message can carry. */
export const MAX_DISTINCT_REACTIONS = 50;
export const EMOJI_MAX_LENGTH = 64;

export const USER_MESSAGE_TYPES = ['text', 'image', 'file'] as const;
export type MessageType = (typeof USER_MESSAGE_TYPES)[number] | 'system';

export interface SenderView {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
}

export interface ReactionView {
  emoji: string;
  count: number;
  me: boolean;
}

export interface MessageView {
  id: string;
  seq: number;
  sender: SenderView | null;
  content: string;
  type: MessageType;
  reply_to_id: string | null;
  nonce: string | null;
  edited_at: string | null;
  deleted: boolean;
  deleted_at: string | null;
  reactions: ReactionView[];
  attachments: AttachmentView[];
  inserted_at: string;
  updated_at: string;
}

/** A message row as stored (either table), without its container column. */
export interface MessageRow {
  id: string;
  seq: number;
  sender_id: string | null;
  content: string;
  type: MessageType;
  reply_to_id: string | null;
  nonce: string | null;
  edited_at: Date | null;
  deleted_at: Date | null;
  inserted_at: Date;
  updated_at: Date;
}

const MESSAGE_COLUMNS = [
  'm.id',
  'm.seq',
  'm.sender_id',
  'm.content',
  'm.type',
  'm.reply_to_id',
  'm.nonce',
  'm.edited_at',
  'm.deleted_at',
  'm.inserted_at',
  'm.updated_at',
] as const;

// -- the location casts (shared with history.ts) --------------------------------------

export const from = (db: Db, loc: MessageLocation) => db.selectFrom(`${loc.table} as m` as 'messages as m');
export const containerRef = (loc: MessageLocation) => `m.${loc.container}` as 'm.conversation_id';
const containerTable = (loc: MessageLocation) => loc.containerTable as 'conversations';

// -- validation -----------------------------------------------------------------------

/** The text of a message as stored: trimmed, bounded; text messages must say something. */
export function checkContent(content: string, type: MessageType, maxLength = MESSAGE_MAX_LENGTH): string {
  const trimmed = content.trim();
  if (trimmed.length > maxLength) {
    throw new ValidationError({ content: [`should be at most ${maxLength} character(s)`] });
  }
  if (type === 'text' && trimmed.length === 0) throw new ValidationError({ content: ["can't be blank"] });
  return trimmed;
}

export function checkMessageType(type: string | undefined | null): MessageType {
  const value = type ?? 'text';
  if (!(USER_MESSAGE_TYPES as readonly string[]).includes(value)) {
    throw new ValidationError({ type: ['is invalid (text, image or file)'] });
  }
  return value as MessageType;
}

export function checkNonce(nonce: string | undefined | null): string | null {
  if (nonce === undefined || nonce === null) return null;
  if (nonce.length < 1 || nonce.length > 64)
    throw new ValidationError({ nonce: ['should be 1 to 64 character(s)'] });
  return nonce;
}

/**
 * The attachment rules of a message type, for any location: `image` and `file` carry at
 * least one upload (`image`: images only), `text` none. Unknown ids are 422 here;
 * ownership and "not yet attached" are checked when the message claims them
 * (attachments/service.ts claimAttachments), in its transaction.
 */
export async function checkMessageAttachments(db: Db, type: MessageType, ids: readonly string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  if (type === 'text') {
    if (unique.length) throw new ValidationError({ type: ['must be image or file for a message with attachments'] });
    return [];
  }
  if (unique.length === 0) throw new ValidationError({ attachment_ids: [`an ${type} message needs at least one attachment`] });
  const types = await contentTypesOf(db, unique);
  if (types.size !== unique.length) throw new ValidationError({ attachment_ids: ['must be your own uploads, not yet attached to a message'] });
  if (type === 'image' && [...types.values()].some((t) => !t.startsWith('image/'))) {
    throw new ValidationError({ attachment_ids: ['an image message carries images only (use type file)'] });
  }
  return unique;
}

const RGI_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');
const NAMED_EMOJI = /^:[A-Za-z0-9_+-]{1,62}:$/;

/** A reaction key: one Unicode emoji (RGI, skin tones and ZWJ sequences included) or `:name:`. */
export function checkEmoji(emoji: string): string {
  if (
    emoji.length < 1 ||
    emoji.length > EMOJI_MAX_LENGTH ||
    !(RGI_EMOJI.test(emoji) || NAMED_EMOJI.test(emoji))
  ) {
    throw new ValidationError({ emoji: ['must be a single emoji or a :name: of at most 64 characters'] });
  }
  return emoji;
}

// -- views ----------------------------------------------------------------------------

/** `[{emoji, count, me}]` of a message, first-used emoji first: a subquery on the reactions index. */
export function reactionsOf(loc: MessageLocation, viewerId: string): RawBuilder<ReactionView[]> {
  return sql<ReactionView[]>`(
    SELECT coalesce(json_agg(json_build_object('emoji', r.emoji, 'count', r.n, 'me', r.me) ORDER BY r.first_at, r.emoji), '[]'::json)
    FROM (
      SELECT emoji, count(*)::int AS n, bool_or(user_id = ${viewerId}::uuid) AS me, min(inserted_at) AS first_at
      FROM reactions WHERE ${sql.ref(loc.reactionTarget)} = m.id GROUP BY emoji
    ) AS r
  )`;
}

/** `[{id, url, filename, content_type, size}]` of a message, upload order: a subquery on its partial index. */
export function attachmentsOf(loc: MessageLocation): RawBuilder<AttachmentView[]> {
  return sql<AttachmentView[]>`(
    SELECT coalesce(json_agg(json_build_object(
      'id', a.id, 'url', ${attachmentUrl('')}::text || a.id, 'filename', a.filename,
      'content_type', a.content_type, 'size', a.size) ORDER BY a.id), '[]'::json)
    FROM attachments AS a WHERE a.${sql.ref(loc.reactionTarget)} = m.id
  )`;
}

/** The view columns of a message row joined to its sender (`u`): sender, reactions and attachments in the same statement. */
function viewColumns(loc: MessageLocation, viewerId: string) {
  return [
    ...MESSAGE_COLUMNS,
    'u.username as sender_username',
    'u.display_name as sender_display_name',
    'u.avatar_url as sender_avatar_url',
    reactionsOf(loc, viewerId).as('reactions'),
    attachmentsOf(loc).as('attachments'),
  ] as const;
}

/** Messages with their sender, reactions and attachments: one statement, whatever the page size. */
function viewQuery(db: Db, loc: MessageLocation, viewerId: string) {
  return from(db, loc).leftJoin('users as u', 'u.id', 'm.sender_id').select(viewColumns(loc, viewerId));
}

type ViewRow = MessageRow & {
  sender_username: string | null;
  sender_display_name: string | null;
  sender_avatar_url: string | null;
  reactions: ReactionView[];
  attachments: AttachmentView[];
};

export function toMessageView(
  row: MessageRow,
  sender: SenderView | null,
  reactions: ReactionView[],
  attachments: AttachmentView[] = [],
): MessageView {
  return {
    id: row.id,
    seq: row.seq,
    sender,
    content: row.deleted_at ? '' : row.content,
    type: row.type,
    reply_to_id: row.reply_to_id,
    nonce: row.nonce,
    edited_at: row.edited_at?.toISOString() ?? null,
    deleted: row.deleted_at !== null,
    deleted_at: row.deleted_at?.toISOString() ?? null,
    reactions: row.deleted_at ? [] : reactions,
    attachments: row.deleted_at ? [] : attachments,
    inserted_at: row.inserted_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function fromViewRow(row: ViewRow): MessageView {
  const sender =
    row.sender_id !== null && row.sender_username !== null
      ? {
          id: row.sender_id,
          username: row.sender_username,
          display_name: row.sender_display_name,
          avatar_url: row.sender_avatar_url,
        }
      : null;
  return toMessageView(row, sender, row.reactions, row.attachments);
}

type ViewParams = { containerId: string; messageId: string; viewerId: string };

// Compiled once per location: reads of one message's view (a nonce retry, an edit).
const viewStatement = prepareShapes(
  (loc: MessageLocation) => loc.table,
  (db, p: ViewParams, loc) => viewQuery(db, loc, p.viewerId).where(containerRef(loc), '=', p.containerId).where('m.id', '=', p.messageId),
);

export async function findMessageView(
  db: Db,
  loc: MessageLocation,
  containerId: string,
  messageId: string,
  viewerId: string,
): Promise<MessageView | undefined> {
  const [row] = await viewStatement(loc)(db, { containerId, messageId, viewerId });
  return row ? fromViewRow(row) : undefined;
}

/** The stored row of a message of this container (deleted ones too), or undefined. */
export async function findMessage(
  db: Db,
  loc: MessageLocation,
  containerId: string,
  messageId: string,
): Promise<MessageRow | undefined> {
  const row = await from(db, loc)
    .select(MESSAGE_COLUMNS)
    .where(containerRef(loc), '=', containerId)
    .where('m.id', '=', messageId)
    .executeTakeFirst();
  return row;
}

// -- send -----------------------------------------------------------------------------

export interface NewMessage {
  containerId: string;
  senderId: string | null;
  content: string;
  type: MessageType;
  replyToId?: string | null;
  nonce?: string | null;
}

/** The message this sender already sent with this nonce, if any (the unique nonce index). */
export async function findByNonce(
  db: Db,
  loc: MessageLocation,
  containerId: string,
  senderId: string,
  nonce: string,
): Promise<MessageRow | undefined> {
  const row = await from(db, loc)
    .select(MESSAGE_COLUMNS)
    .where(containerRef(loc), '=', containerId)
    .where('m.sender_id', '=', senderId)
    .where('m.nonce', '=', nonce)
    .executeTakeFirst();
  return row;
}

export interface AppendParams extends Record<string, unknown> {
  containerId: string;
  senderId: string | null;
  content: string;
  type: MessageType;
  replyToId: string | null;
  nonce: string | null;
}

export type AppendedRow = { [K in keyof MessageRow]: MessageRow[K] | null };

/**
 * The two CTEs of a send, for embedding in a statement (appendMessage's, or an owning
 * context's that adds its access check and side effects to the same round trip):
 * `bumped` moves the container's `last_message_seq` on (the UPDATE's row lock orders
 * concurrent senders, so seq is gap-free and ids are generated in seq order) only when
 * `guard` holds, and `appended` inserts the message with that seq. `appended` is empty when
 * the container is missing, the guard fails, or the sender's nonce is already taken; in
 * the last case `bumped` is not, and the caller must roll back (the seq bump with it) and
 * return the existing message.
 */
export function appendCtes(loc: MessageLocation, p: AppendParams, guard: RawBuilder<boolean> = sql<boolean>`true`) {
  // clock_timestamp(), not now(): taken after the lock, so last_message_at never moves
  // backwards when a transaction that started earlier gets the lock later.
  return sql`bumped AS (
    UPDATE ${sql.table(loc.containerTable)}
    SET last_message_seq = last_message_seq + 1, last_message_at = clock_timestamp()
    WHERE id = ${p.containerId}::uuid AND ${guard}
    RETURNING last_message_seq, last_message_at
  ), appended AS (
    INSERT INTO ${sql.table(loc.table)}
      (id, ${sql.ref(loc.container)}, sender_id, content, type, reply_to_id, nonce, seq, inserted_at, updated_at)
    SELECT ${messageIdAt(sql.ref('b.last_message_at'))}, ${p.containerId}::uuid, ${p.senderId}::uuid, ${p.content}::text, ${p.type}::text,
      ${p.replyToId}::uuid, ${p.nonce}::text, b.last_message_seq, b.last_message_at, b.last_message_at
    FROM bumped AS b
    ON CONFLICT (${sql.ref(loc.container)}, sender_id, nonce) WHERE nonce IS NOT NULL DO NOTHING
    RETURNING id, seq, sender_id, content, type, reply_to_id, nonce, edited_at, deleted_at, inserted_at, updated_at
  )`;
}

/**
 * A UUIDv7 made from the time taken under the container's row lock: the milliseconds in
 * the first 48 bits, the microseconds within the millisecond in the 12 bits after the
 * version (0x7000 + 0..999), random bits (with the variant of gen_random_uuid) after that.
 * A container's last_message_at strictly increases from one send to the next (each takes
 * clock_timestamp() after the previous holder of the lock committed), so ids follow seq
 * within a container, which keyset history (`after` cursors) relies on: a message can
 * never commit behind an id a reader has already paged past.
 */
function messageIdAt(at: RawBuilder<unknown>) {
  return sql<string>`encode(
      substring(int8send(floor(extract(epoch FROM ${at}) * 1000)::bigint) FROM 3)
      || int2send((28672 + floor(extract(epoch FROM ${at}) * 1000000)::bigint % 1000)::smallint)
      || substring(uuid_send(gen_random_uuid()) FROM 9),
    'hex')::uuid`;
}

/** The columns of `appended` (a MessageRow, all null when nothing was inserted). */
export const APPENDED_COLUMNS = sql.raw(
  'm.id, m.seq, m.sender_id, m.content, m.type, m.reply_to_id, m.nonce, m.edited_at, m.deleted_at, m.inserted_at, m.updated_at',
);

/** The parameters of appendCtes for a new message. */
export function appendParams(input: NewMessage): AppendParams {
  return {
    containerId: input.containerId,
    senderId: input.senderId,
    content: input.content,
    type: input.type,
    replyToId: input.replyToId ?? null,
    nonce: input.nonce ?? null,
  };
}

/** A row of a statement that selected APPENDED_COLUMNS: the message, or undefined. */
export function appendedMessage(row: AppendedRow): MessageRow | undefined {
  return row.id === null ? undefined : (row as MessageRow);
}

// Compile-once (db/prepared.ts): one per location, as the table names are the query's shape.
const appendStatement = prepareShapes(
  (loc: MessageLocation) => loc.table,
  (db, p: AppendParams, loc) => ({
    compile: () =>
      sql<AppendedRow & { found: boolean }>`WITH ${appendCtes(loc, p)}
        SELECT EXISTS (SELECT 1 FROM bumped) AS found, ${APPENDED_COLUMNS}
        FROM (SELECT 1) AS one LEFT JOIN appended AS m ON true`.compile(db),
  }),
);

/**
 * Appends a message, inside the caller's transaction, in ONE statement (appendCtes).
 * Returns undefined when the sender's nonce is already taken: the caller must roll back
 * (the seq bump with it) and return the existing message. The container must exist (the
 * caller checked access).
 */
export async function appendMessage(
  trx: Db,
  loc: MessageLocation,
  input: NewMessage,
): Promise<MessageRow | undefined> {
  const [row] = await appendStatement(loc)(trx, appendParams(input));
  if (!row?.found) throw new NotFoundError(loc.kind);
  return appendedMessage(row);
}

// -- edit and delete ------------------------------------------------------------------

/** Replaces the text of a live message and sets edited_at; undefined if it is gone. */
export async function editMessage(
  db: Db,
  loc: MessageLocation,
  containerId: string,
  messageId: string,
  content: string,
): Promise<MessageRow | undefined> {
  const row = await db
    .updateTable(`${loc.table} as m` as 'messages as m')
    .set({ content, edited_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where(containerRef(loc), '=', containerId)
    .where('m.id', '=', messageId)
    .where('m.deleted_at', 'is', null)
    .returning(MESSAGE_COLUMNS)
    .executeTakeFirst();
  return row;
}

/**
 * Soft delete: the row stays (replies keep their target, seq stays dense, unread counts do
 * not change) with its content cleared and deleted_at set; its reactions and attachment
 * rows are removed. Returns false when it was already deleted, else the storage keys of
 * the removed attachments: the caller deletes those objects once the transaction commits.
 */
export async function softDeleteMessage(
  trx: Db,
  loc: MessageLocation,
  containerId: string,
  messageId: string,
): Promise<false | { storageKeys: string[] }> {
  const result = await trx
    .updateTable(`${loc.table} as m` as 'messages as m')
    .set({ content: '', deleted_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where(containerRef(loc), '=', containerId)
    .where('m.id', '=', messageId)
    .where('m.deleted_at', 'is', null)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) return false;
  await trx.deleteFrom('reactions').where(loc.reactionTarget, '=', messageId).execute();
  const attachments = await trx
    .deleteFrom('attachments')
    .where(loc.reactionTarget, '=', messageId)
    .returning('storage_key')
    .execute();
  return { storageKeys: attachments.map((a) => a.storage_key) };
}

// -- reactions ------------------------------------------------------------------------

/**
 * Adds the user's reaction (idempotent: true when it is new). A new emoji on a message
 * that already has MAX_DISTINCT_REACTIONS is refused. The message row is locked first so
 * concurrent new emoji cannot overshoot the cap, and a deleted message takes none.
 */
export async function addReaction(
  trx: Db,
  loc: MessageLocation,
  containerId: string,
  messageId: string,
  userId: string,
  emoji: string,
): Promise<boolean> {
  const target = await from(trx, loc)
    .select(['m.id', 'm.deleted_at'])
    .where(containerRef(loc), '=', containerId)
    .where('m.id', '=', messageId)
    .forUpdate()
    .executeTakeFirst();
  if (!target || target.deleted_at) throw new NotFoundError('message');
  const stats = await trx
    .selectFrom('reactions')
    .select([
      sql<number>`count(DISTINCT emoji)::int`.as('distinct'),
      sql<boolean>`bool_or(emoji = ${emoji})`.as('has_emoji'),
    ])
    .where(loc.reactionTarget, '=', messageId)
    .executeTakeFirstOrThrow();
  if (!stats.has_emoji && stats.distinct >= MAX_DISTINCT_REACTIONS) {
    throw new AppError(
      'too_many_reactions',
      `a message can carry at most ${MAX_DISTINCT_REACTIONS} different reactions`,
      409,
    );
  }
  const inserted = await trx
    .insertInto('reactions')
    .values({ id: newId(), [loc.reactionTarget]: messageId, user_id: userId, emoji })
    .onConflict((oc) =>
      oc
        .columns([loc.reactionTarget, 'emoji', 'user_id'])
        .where(sql.ref(loc.reactionTarget), 'is not', null)
        .doNothing(),
    )
    .executeTakeFirst();
  return (inserted.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

/** Removes the user's reaction; true when there was one. */
export async function removeReaction(
  db: Db,
  loc: MessageLocation,
  messageId: string,
  userId: string,
  emoji: string,
): Promise<boolean> {
  const result = await db
    .deleteFrom('reactions')
    .where(loc.reactionTarget, '=', messageId)
    .where('user_id', '=', userId)
    .where('emoji', '=', emoji)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

// -- read positions -------------------------------------------------------------------

/** The seq to mark read: that of `messageId` in the container, or the latest one. */
export async function readTargetSeq(
  db: Db,
  loc: MessageLocation,
  containerId: string,
  messageId?: string | null,
): Promise<number | undefined> {
  if (messageId) return (await findMessage(db, loc, containerId, messageId))?.seq;
  const row = await db
    .selectFrom(containerTable(loc))
    .select('last_message_seq')
    .where('id', '=', containerId)
    .executeTakeFirst();
  return row?.last_message_seq;
}
