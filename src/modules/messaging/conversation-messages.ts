// Messages in conversations: the conversation's access rules (participants only; no
// writing across a block in a 1:1 DM; the group-DM owner may delete) around the shared
// message store (messages.ts), plus the notifications a message causes.
import type { Db } from '../../db/database.ts';
import { fail, transaction, type TransactionContext } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { notify } from '../notifications/service.ts';
import { requireParticipant, touchParticipants, type Membership } from './conversations.ts';
import { CONVERSATION } from './location.ts';
import {
  addReaction,
  appendMessage,
  checkContent,
  checkEmoji,
  checkMessageType,
  checkNonce,
  editMessage,
  findByNonce,
  findMessage,
  findMessageView,
  listMessages,
  readTargetSeq,
  removeReaction,
  softDeleteMessage,
  toMessageView,
  type HistoryOptions,
  type MessageRow,
  type MessageView,
  type SenderView,
} from './messages.ts';

const blockedError = () =>
  new AppError(
    'conversation_blocked',
    'you cannot write in a DM with a user you blocked or who blocked you',
    403,
  );

async function writable(db: Db, conversationId: string, userId: string): Promise<Membership> {
  const membership = await requireParticipant(db, conversationId, userId);
  if (membership.blocked) throw blockedError();
  return membership;
}

export interface SendInput {
  content: string;
  type?: string | null | undefined;
  reply_to_id?: string | null | undefined;
  attachment_ids?: string[] | null | undefined;
  nonce?: string | null | undefined;
}

/**
 * Sends a message: one transaction (seq bump, insert, participants' activity and the
 * sender's read position, notifications); events after commit. A nonce the sender
 * already used returns that first message instead (a retried send never duplicates).
 */
export async function sendMessage(
  db: Db,
  events: EventBus,
  sender: SenderView,
  conversationId: string,
  input: SendInput,
): Promise<MessageView> {
  await writable(db, conversationId, sender.id);
  const type = checkMessageType(input.type);
  const content = checkContent(input.content, type);
  const nonce = checkNonce(input.nonce);
  // Attachments are the next slice; refusing them beats silently dropping them.
  if (input.attachment_ids?.length)
    throw new ValidationError({ attachment_ids: ['attachments are not supported yet'] });
  if (nonce) {
    const first = await findByNonce(db, CONVERSATION, conversationId, sender.id, nonce);
    if (first) return (await findMessageView(db, CONVERSATION, conversationId, first.id, sender.id))!;
  }
  let replyTarget: MessageRow | undefined;
  if (input.reply_to_id) {
    replyTarget = await findMessage(db, CONVERSATION, conversationId, input.reply_to_id);
    if (!replyTarget) throw new ValidationError({ reply_to_id: ['is not a message of this conversation'] });
  }
  const outcome = await transaction(db, async (trx, ctx) => {
    const message = await appendMessage(trx, CONVERSATION, {
      containerId: conversationId,
      senderId: sender.id,
      content,
      type,
      replyToId: replyTarget?.id ?? null,
      nonce,
    });
    // Lost a race with a concurrent retry of the same nonce: undo the seq bump, return theirs.
    if (!message) return fail('nonce_taken' as const);
    const participants = await touchParticipants(trx, conversationId, sender.id, message);
    await notifyParticipants(trx, { ctx, events }, { conversationId, message, participants, replyTarget });
    ctx.afterCommit(() =>
      events.publish({
        type: 'message.created',
        location: 'conversation',
        containerId: conversationId,
        messageId: message.id,
        senderId: sender.id,
      }),
    );
    return message;
  });
  if (!outcome.ok) {
    const first = nonce ? await findByNonce(db, CONVERSATION, conversationId, sender.id, nonce) : undefined;
    if (!first) throw new Error('sendMessage: nonce conflict without a first message');
    return (await findMessageView(db, CONVERSATION, conversationId, first.id, sender.id))!;
  }
  return toMessageView(outcome.value, sender, []);
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

/**
 * One notification per recipient and message, the most specific kind: `mention` (an
 * @username of a participant), else `reply` (the author of the message replied to), else
 * `message` unless they muted the conversation, collapsed per conversation. Never to the
 * sender; notify() skips recipients who blocked the sender.
 */
async function notifyParticipants(
  trx: Db,
  after: { ctx: TransactionContext; events: EventBus },
  input: {
    conversationId: string;
    message: MessageRow;
    participants: Array<{ user_id: string; muted: boolean }>;
    replyTarget: MessageRow | undefined;
  },
): Promise<void> {
  const { conversationId, message, participants, replyTarget } = input;
  const others = participants.filter((p) => p.user_id !== message.sender_id);
  if (others.length === 0) return;
  const names = mentionedUsernames(message.content);
  const mentioned = new Set<string>();
  if (names.length) {
    const rows = await trx
      .selectFrom('users')
      .select('id')
      .where('username', 'in', names)
      .where(
        'id',
        'in',
        others.map((p) => p.user_id),
      )
      .execute();
    for (const row of rows) mentioned.add(row.id);
  }
  const replyAuthor = replyTarget && !replyTarget.deleted_at ? replyTarget.sender_id : null;
  const data = { conversation_id: conversationId, message_id: message.id };
  for (const p of others) {
    if (mentioned.has(p.user_id)) {
      await notify(trx, { userId: p.user_id, type: 'mention', actorId: message.sender_id, data }, after);
    } else if (p.user_id === replyAuthor) {
      await notify(
        trx,
        {
          userId: p.user_id,
          type: 'reply',
          actorId: message.sender_id,
          data: { ...data, reply_to_id: replyTarget?.id },
        },
        after,
      );
    } else if (!p.muted) {
      await notify(
        trx,
        {
          userId: p.user_id,
          type: 'message',
          actorId: message.sender_id,
          data,
          collapseKey: `conversation:${conversationId}`,
        },
        after,
      );
    }
  }
}

export async function listConversationMessages(
  db: Db,
  userId: string,
  conversationId: string,
  opts: HistoryOptions,
) {
  await requireParticipant(db, conversationId, userId);
  return listMessages(db, CONVERSATION, conversationId, userId, opts);
}

/** Author only; a deleted message is gone (404). Sets edited_at. */
export async function editConversationMessage(
  db: Db,
  events: EventBus,
  userId: string,
  conversationId: string,
  messageId: string,
  content: string,
): Promise<MessageView> {
  await writable(db, conversationId, userId);
  const current = await findMessage(db, CONVERSATION, conversationId, messageId);
  if (!current || current.deleted_at) throw new NotFoundError('message');
  if (current.sender_id !== userId)
    throw new AppError('not_message_author', 'only the author may edit a message', 403);
  const updated = await editMessage(
    db,
    CONVERSATION,
    conversationId,
    messageId,
    checkContent(content, current.type),
  );
  if (!updated) throw new NotFoundError('message');
  events.publish({
    type: 'message.updated',
    location: 'conversation',
    containerId: conversationId,
    messageId,
  });
  return (await findMessageView(db, CONVERSATION, conversationId, messageId, userId))!;
}

/** Soft delete by the author or the group-DM owner; deleting a deleted message is a no-op. */
export async function deleteConversationMessage(
  db: Db,
  events: EventBus,
  userId: string,
  conversationId: string,
  messageId: string,
): Promise<void> {
  const membership = await requireParticipant(db, conversationId, userId);
  const current = await findMessage(db, CONVERSATION, conversationId, messageId);
  if (!current) throw new NotFoundError('message');
  const allowed = current.sender_id === userId || (membership.isGroup && membership.ownerId === userId);
  if (!allowed)
    throw new AppError(
      'not_message_author',
      'only the author or the group DM owner may delete a message',
      403,
    );
  if (current.deleted_at) return;
  const outcome = await transaction(db, async (trx, ctx) => {
    if (await softDeleteMessage(trx, CONVERSATION, conversationId, messageId)) {
      ctx.afterCommit(() =>
        events.publish({
          type: 'message.deleted',
          location: 'conversation',
          containerId: conversationId,
          messageId,
        }),
      );
    }
    return null;
  });
  if (!outcome.ok) throw new Error('unreachable');
}

export async function reactToMessage(
  db: Db,
  events: EventBus,
  userId: string,
  conversationId: string,
  messageId: string,
  emoji: string,
): Promise<void> {
  await writable(db, conversationId, userId);
  const key = checkEmoji(emoji);
  const outcome = await transaction(db, async (trx, ctx) => {
    if (await addReaction(trx, CONVERSATION, conversationId, messageId, userId, key)) {
      ctx.afterCommit(() =>
        events.publish({
          type: 'reaction.added',
          location: 'conversation',
          containerId: conversationId,
          messageId,
          userId,
          emoji: key,
        }),
      );
    }
    return null;
  });
  if (!outcome.ok) throw new Error('unreachable');
}

export async function unreactToMessage(
  db: Db,
  events: EventBus,
  userId: string,
  conversationId: string,
  messageId: string,
  emoji: string,
): Promise<void> {
  await requireParticipant(db, conversationId, userId);
  const key = checkEmoji(emoji);
  const message = await findMessage(db, CONVERSATION, conversationId, messageId);
  if (!message) throw new NotFoundError('message');
  if (await removeReaction(db, CONVERSATION, messageId, userId, key)) {
    events.publish({
      type: 'reaction.removed',
      location: 'conversation',
      containerId: conversationId,
      messageId,
      userId,
      emoji: key,
    });
  }
}

/** Marks read up to a message (default: the latest); the position never moves backwards. */
export async function markConversationRead(
  db: Db,
  userId: string,
  conversationId: string,
  messageId?: string | null,
): Promise<{ last_read_seq: number; unread_count: number }> {
  await requireParticipant(db, conversationId, userId);
  const seq = await readTargetSeq(db, CONVERSATION, conversationId, messageId);
  if (seq === undefined) throw new ValidationError({ message_id: ['is not a message of this conversation'] });
  await CONVERSATION.markRead(db, conversationId, userId, seq);
  const row = await db
    .selectFrom('conversation_participants as p')
    .innerJoin('conversations as c', 'c.id', 'p.conversation_id')
    .select(['p.last_read_seq', 'c.last_message_seq'])
    .where('p.conversation_id', '=', conversationId)
    .where('p.user_id', '=', userId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('conversation');
  return {
    last_read_seq: row.last_read_seq,
    unread_count: Math.max(0, row.last_message_seq - row.last_read_seq),
  };
}
