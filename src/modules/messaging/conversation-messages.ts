// Messages in conversations: the conversation's access rules (participants only; no
// writing across a block in a 1:1 DM; the group-DM owner may delete) around the shared
// message store (messages.ts). Sending, with the notifications a message causes, is in
// conversation-send.ts (re-exported here).
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import type { RenderedJson } from '../../lib/rendered-json.ts';
import type { AttachmentStorage } from '../attachments/storage.ts';
import { writable } from './conversation-send.ts';
import { requireParticipant } from './conversations.ts';
import { CONVERSATION } from './location.ts';
import {
  checkContent,
  editMessage,
  findMessage,
  findMessageView,
  MESSAGE_MAX_LENGTH,
  readTargetSeq,
  softDeleteMessage,
  type MessageView,
} from './messages.ts';
import { listMessages, type HistoryGuard, type HistoryOptions, type MessagePage } from './history.ts';
import { react, unreact } from './reactions.ts';

/** Deployment settings of messaging (config.messages, the attachment store). */
export interface MessagingOptions {
  /** Longest text in characters (MESSAGE_MAX_LENGTH). */
  maxLength?: number;
  /** Where deleted messages' attachment objects are removed from. */
  storage?: AttachmentStorage | undefined;
}

export { mentionedUsernames, sendMessage, type SendInput } from './conversation-send.ts';

/** Participants only: the guard of a conversation's history page (HistoryOptions.guard). */
export const participantGuard: HistoryGuard = ({ containerId, viewerId }) => sql<boolean>`EXISTS (
  SELECT 1 FROM conversation_participants AS g WHERE g.conversation_id = ${containerId}::uuid AND g.user_id = ${viewerId}::uuid
)`;

export async function listConversationMessages(
  db: Db,
  userId: string,
  conversationId: string,
  opts: HistoryOptions,
): Promise<RenderedJson<MessagePage>> {
  // The participant check rides in the page's statement (one round trip per page); only an
  // empty page needs the separate check, to answer 404 to a non-participant.
  const page = await listMessages(db, CONVERSATION, conversationId, userId, { ...opts, guard: participantGuard });
  if (page.size === 0) await requireParticipant(db, conversationId, userId);
  return page;
}

/** Author only; a deleted message is gone (404). Sets edited_at. */
export async function editConversationMessage(
  db: Db,
  events: EventBus,
  userId: string,
  conversationId: string,
  messageId: string,
  content: string,
  options: MessagingOptions = {},
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
    checkContent(content, current.type, options.maxLength ?? MESSAGE_MAX_LENGTH),
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
  options: MessagingOptions = {},
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
    const deleted = await softDeleteMessage(trx, CONVERSATION, conversationId, messageId);
    if (deleted) {
      // The rows went with the transaction; the bytes go once it has committed.
      const { storage } = options;
      if (storage && deleted.storageKeys.length) {
        ctx.afterCommit(async () => {
          await Promise.all(deleted.storageKeys.map((key) => storage.delete(key)));
        });
      }
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
  await react(db, events, { loc: CONVERSATION, containerId: conversationId, messageId, userId, emoji });
}

/** Removing one's own reaction needs only to be a participant (a block does not stop it). */
export async function unreactToMessage(
  db: Db,
  events: EventBus,
  userId: string,
  conversationId: string,
  messageId: string,
  emoji: string,
): Promise<void> {
  await requireParticipant(db, conversationId, userId);
  await unreact(db, events, { loc: CONVERSATION, containerId: conversationId, messageId, userId, emoji });
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
