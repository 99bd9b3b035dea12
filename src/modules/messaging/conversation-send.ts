// Sending a message in a conversation: the hot path, so a plain text message is ONE
// statement (access check, seq bump, insert, participants' activity, notifications;
// docs/messaging.md "Send"), plus the access check every other write shares (writable).
// The shape of that statement is not the conversation's own: sendStatementAt builds it for
// any location from the parts the owning context supplies (channels: groups/channel-send.ts).
import { sql, type RawBuilder } from 'kysely';
import type { MessageLocation } from './location.ts';
import type { Db } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';
import { fail, transaction } from '../../db/unit-of-work.ts';
import { withBuiltView, type EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { claimAttachments } from '../attachments/service.ts';
import { notificationCreated, notifyRecipientsSql, toView as notificationView } from '../notifications/service.ts';
import type { MessagingOptions } from './conversation-messages.ts';
import { dmBlocked, requireParticipant, type Membership } from './conversations.ts';
import { CONVERSATION } from './location.ts';
import {
  APPENDED_COLUMNS,
  appendCtes,
  appendedMessage,
  appendParams,
  checkContent,
  checkMessageAttachments,
  checkMessageType,
  checkNonce,
  findByNonce,
  findMessageView,
  toMessageView,
  type AppendedRow,
  type AppendParams,
  type MessageRow,
  type MessageType,
  type MessageView,
  type NewMessage,
  type SenderView,
} from './messages.ts';

const blockedError = () =>
  new AppError(
    'conversation_blocked',
    'you cannot write in a DM with a user you blocked or who blocked you',
    403,
  );

/** The caller's membership of a conversation they may write in: 404 / 403 otherwise. */
export async function writable(db: Db, conversationId: string, userId: string): Promise<Membership> {
  const membership = await requireParticipant(db, conversationId, userId);
  if (membership.blocked) throw blockedError();
  return membership;
}

/**
 * The attachment rules of a message type: `image` and `file` carry at least one upload
 * (`image`: images only), `text` none. Unknown ids are 422 here; ownership and "not yet
 * attached" are checked when the message claims them, in its transaction.
 */
export interface SendInput {
  content: string;
  type?: string | null | undefined;
  reply_to_id?: string | null | undefined;
  attachment_ids?: string[] | null | undefined;
  nonce?: string | null | undefined;
}

export interface SendParams extends AppendParams {
  /** Lower-cased @usernames in the text (mentionedUsernames). */
  names: string[];
  /** The author of the live message replied to, if any: they get a `reply`. */
  replyAuthorId: string | null;
  collapseKey: string;
}

export type SendRow = AppendedRow & {
  /** NULL: the sender may not see the container (`me` was empty); true: the context refused the write. */
  refused: boolean | null;
  notified: Array<{ id: string; user_id: string; type: string; data: Record<string, unknown> | null; inserted_at: string; updated_at: string }>;
};

/** What the owning context adds to the one-statement send (sendStatementAt). */
export interface SendStatementParts {
  /**
   * The body of CTE `me`: one row when the sender may see the container, with a boolean
   * column `refused` (true: they see it but may not write, e.g. a blocked DM). The seq bump
   * and insert run only when `me` has a row that is not refused. Other columns are free for
   * the parts below.
   */
  me: RawBuilder<unknown>;
  /**
   * The body of CTE `touched`, run after the insert (reads `appended`): the per-member rows
   * a send moves, at least the sender's read position (one's own message is never unread).
   */
  touched: RawBuilder<unknown>;
  /**
   * The recipients of notifications (notifyRecipientsSql: `user_id, type, data,
   * collapse_key`); may read `me`, `appended` and `touched`.
   */
  recipients: RawBuilder<unknown>;
}

/**
 * The whole of a send at any location in ONE statement: the sender's access (`me`), the
 * seq bump and insert guarded by it (appendCtes), the context's per-member updates
 * (`touched`) and one notification per recipient (notifyRecipientsSql: never to the sender
 * or to someone who blocked them). Each CTE reads the one before it, so the container's
 * row lock is taken first, as in every other write to it. One round trip, and a
 * transaction of its own when run alone.
 */
export function sendStatementAt(loc: MessageLocation, p: AppendParams, parts: SendStatementParts): RawBuilder<SendRow> {
  return sql<SendRow>`
    WITH me AS (${parts.me}),
    ${appendCtes(loc, p, sql<boolean>`EXISTS (SELECT 1 FROM me WHERE NOT me.refused)`)},
    touched AS (${parts.touched}),
    notified AS (${notifyRecipientsSql(parts.recipients, sql<string>`${p.senderId}::uuid`)})
    SELECT me.refused, ${APPENDED_COLUMNS},
      (SELECT coalesce(json_agg(json_build_object('id', n.id, 'user_id', n.user_id, 'type', n.type, 'data', n.data,
         'inserted_at', n.inserted_at, 'updated_at', n.updated_at)), '[]'::json)
       FROM notified AS n) AS notified
    FROM (SELECT 1) AS one LEFT JOIN me ON true LEFT JOIN appended AS m ON true`;
}

/**
 * A conversation send in ONE statement (sendStatementAt, compiled once: sendStatement): the
 * sender's participation and the DM block (`me`), every participant's last_activity_at and
 * the sender's read position (`touched`), and one notification per other participant, the
 * most specific kind: `mention` (an @username of a participant), else `reply` (the author
 * of the message replied to), else `message` unless they muted the conversation,
 * collapsed per conversation. Exported for the benchmark's plain-pg baseline.
 */
export function sendStatementQuery(p: SendParams): RawBuilder<SendRow> {
  const sender = sql<string>`${p.senderId}::uuid`;
  return sendStatementAt(CONVERSATION, p, {
    me: sql`
      SELECT ${dmBlocked()} AS refused
      FROM conversation_participants AS p JOIN conversations AS c ON c.id = p.conversation_id
      WHERE p.conversation_id = ${p.containerId}::uuid AND p.user_id = ${sender}`,
    touched: sql`
      UPDATE conversation_participants AS t
      SET last_activity_at = m.inserted_at,
        last_read_seq = CASE WHEN t.user_id = ${sender} THEN greatest(t.last_read_seq, m.seq) ELSE t.last_read_seq END,
        last_read_at = CASE WHEN t.user_id = ${sender} THEN now() ELSE t.last_read_at END
      FROM appended AS m
      WHERE t.conversation_id = ${p.containerId}::uuid
      RETURNING t.user_id, t.muted`,
    recipients: sql`
      SELECT r.user_id, r.type,
        jsonb_build_object('conversation_id', ${p.containerId}::uuid, 'message_id', m.id)
          || CASE WHEN r.type = 'reply' THEN jsonb_build_object('reply_to_id', m.reply_to_id) ELSE '{}'::jsonb END AS data,
        CASE WHEN r.type = 'message' THEN ${p.collapseKey}::text END AS collapse_key
      FROM (
        SELECT t.user_id,
          CASE WHEN u.id IS NOT NULL THEN 'mention'
               WHEN t.user_id = ${p.replyAuthorId}::uuid THEN 'reply'
               WHEN NOT t.muted THEN 'message' END AS type
        FROM touched AS t
        LEFT JOIN users AS u ON u.id = t.user_id AND u.username = ANY(${p.names}::text[])
      ) AS r CROSS JOIN appended AS m`,
  });
}

const sendStatement = prepare((db, p: SendParams) => ({ compile: () => sendStatementQuery(p).compile(db) }));

/** The parameters of sendStatementQuery for a new message. */
export function sendParams(
  input: NewMessage & { containerId: string; senderId: string },
  replyAuthorId: string | null = null,
): SendParams {
  return {
    ...appendParams(input),
    names: mentionedUsernames(input.content),
    replyAuthorId,
    collapseKey: `conversation:${input.containerId}`,
  };
}

/**
 * What a send with a nonce, a reply or attachments must know before its transaction, in
 * one statement: the caller's participation (404) and the DM block (403), the message the
 * sender already sent with this nonce, and the message replied to.
 */
async function preflight(db: Db, conversationId: string, senderId: string, nonce: string | null, replyToId: string | null) {
  const row = await db
    .selectFrom('conversation_participants as p')
    .innerJoin('conversations as c', 'c.id', 'p.conversation_id')
    .leftJoin('messages as n', (join) =>
      join
        .onRef('n.conversation_id', '=', 'p.conversation_id')
        .on('n.sender_id', '=', senderId)
        .on('n.nonce', '=', nonce),
    )
    .leftJoin('messages as r', (join) =>
      join.onRef('r.conversation_id', '=', 'p.conversation_id').on('r.id', '=', replyToId),
    )
    .select([
      dmBlocked().as('blocked'),
      'n.id as nonce_message_id',
      'r.id as reply_id',
      'r.sender_id as reply_sender_id',
      'r.deleted_at as reply_deleted_at',
    ])
    .where('p.conversation_id', '=', conversationId)
    .where('p.user_id', '=', senderId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('conversation');
  if (row.blocked) throw blockedError();
  return row;
}

/**
 * Sends a message. A plain text message (no nonce, no reply, no attachments) is ONE
 * statement (sendStatement), events once it has returned, committed. A send with a nonce,
 * a reply or attachments first runs preflight(); with a nonce or attachments the statement
 * (and the claim of the attachments) runs in a transaction, events after commit. A nonce
 * the sender already used returns that first message instead (a retried send never
 * duplicates, also when two retries race: the loser's insert does nothing, it rolls back,
 * seq bump included, and returns the winner's message).
 */
export async function sendMessage(
  db: Db,
  events: EventBus,
  sender: SenderView,
  conversationId: string,
  input: SendInput,
  options: MessagingOptions = {},
): Promise<MessageView> {
  let type: MessageType, content: string, nonce: string | null;
  try {
    type = checkMessageType(input.type);
    content = checkContent(input.content, type, options.maxLength);
    nonce = checkNonce(input.nonce);
  } catch (error) {
    // Access first: a non-participant gets 404 (a blocked DM 403), whatever they sent.
    await writable(db, conversationId, sender.id);
    throw error;
  }
  const requested = input.attachment_ids ?? [];
  let attachmentIds: string[] = [];
  let replyAuthorId: string | null = null;
  if (nonce || input.reply_to_id || type !== 'text' || requested.length) {
    const pre = await preflight(db, conversationId, sender.id, nonce, input.reply_to_id ?? null);
    if (pre.nonce_message_id) return (await findMessageView(db, CONVERSATION, conversationId, pre.nonce_message_id, sender.id))!;
    attachmentIds = await checkMessageAttachments(db, type, requested);
    if (input.reply_to_id) {
      if (!pre.reply_id) throw new ValidationError({ reply_to_id: ['is not a message of this conversation'] });
      replyAuthorId = pre.reply_deleted_at ? null : pre.reply_sender_id;
    }
  }
  const params = sendParams(
    { containerId: conversationId, senderId: sender.id, content, type, replyToId: input.reply_to_id ?? null, nonce },
    replyAuthorId,
  );
  return completeSend(db, events, {
    loc: CONVERSATION,
    containerId: conversationId,
    sender,
    nonce,
    attachmentIds,
    statement: async (executor) => (await sendStatement(executor, params))[0],
    sent,
  });
}

export interface CompleteSend {
  loc: MessageLocation;
  containerId: string;
  sender: SenderView;
  nonce: string | null;
  attachmentIds: string[];
  /** The location's send statement (sendStatementAt) on `executor`. */
  statement: (executor: Db) => Promise<SendRow | undefined>;
  /** The message the statement inserted, undefined when the nonce was taken; throws when access was refused. */
  sent: (row: SendRow | undefined) => MessageRow | undefined;
  /** More work in the send's transaction (a job to enqueue, …). */
  inTransaction?: ((trx: Db, message: MessageRow) => Promise<void>) | undefined;
}

/**
 * The end of a send, for any location. Without a nonce, attachments or extra work, the
 * statement alone: one statement is a transaction of its own (it commits all of the send,
 * or, access refused, changes nothing), and without a nonce its insert cannot conflict, so
 * there is never a seq bump to undo: no BEGIN/COMMIT round trips. Otherwise one transaction
 * that also claims the attachments; a sender who lost a race with a concurrent retry of
 * the same nonce rolls back (the seq bump with it) and gets the first message.
 */
export async function completeSend(db: Db, events: EventBus, send: CompleteSend): Promise<MessageView> {
  const { loc, containerId, sender, nonce, attachmentIds } = send;
  // The events of a committed send, in order: its notifications, then the message, each
  // with its view built here (the sender is every notification's actor), so the gateway
  // need not read them back.
  const announce = (row: SendRow, view: MessageView) => {
    for (const n of row.notified) {
      const built = notificationView({
        ...n,
        read_at: null,
        inserted_at: new Date(n.inserted_at),
        updated_at: new Date(n.updated_at),
        cursor_at: n.inserted_at,
        actor_id: sender.id,
        actor_username: sender.username,
        actor_display_name: sender.display_name,
        actor_avatar_url: sender.avatar_url,
      });
      events.publish(withBuiltView(notificationCreated({ id: n.id, userId: n.user_id, type: n.type }), built));
    }
    events.publish(
      withBuiltView({ type: 'message.created', location: loc.kind, containerId, messageId: view.id, senderId: sender.id }, view),
    );
  };
  if (!nonce && attachmentIds.length === 0 && !send.inTransaction) {
    const row = await send.statement(db);
    const message = send.sent(row);
    if (!message) throw new Error('completeSend: a send without a nonce conflicted');
    const view = toMessageView(message, sender, [], []);
    announce(row!, view);
    return view;
  }
  const outcome = await transaction(db, async (trx, ctx) => {
    const row = await send.statement(trx);
    const message = send.sent(row);
    if (!message) return fail('nonce_taken' as const);
    const attachments = await claimAttachments(trx, loc.reactionTarget, message.id, sender.id, attachmentIds);
    await send.inTransaction?.(trx, message);
    const view = toMessageView(message, sender, [], attachments);
    ctx.afterCommit(() => announce(row!, view));
    return view;
  });
  if (!outcome.ok) {
    const first = nonce ? await findByNonce(db, loc, containerId, sender.id, nonce) : undefined;
    if (!first) throw new Error('completeSend: nonce conflict without a first message');
    return (await findMessageView(db, loc, containerId, first.id, sender.id))!;
  }
  return outcome.value;
}

/** The message sendStatement inserted; undefined when the nonce was taken; 404 / 403 when access was refused. */
function sent(row: SendRow | undefined): MessageRow | undefined {
  if (!row || row.refused === null) throw new NotFoundError('conversation');
  if (row.refused) throw blockedError();
  return appendedMessage(row);
}

const MENTION = /(?:^|[^A-Za-z0-9_])@([A-Za-z0-9_]{3,20})(?![A-Za-z0-9_])/g;

/** The lower-cased usernames `@mentioned` in a text (at most 50). */
export function mentionedUsernames(content: string): string[] {
  const names = new Set<string>();
  for (const match of content.matchAll(MENTION)) {
    names.add(match[1]!.toLowerCase());
    if (names.size >= 50) break;
  }
  return [...names];
}
