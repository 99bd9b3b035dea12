// Messages in channels: the channel's permission rules (VIEW_CHANNEL, READ_HISTORY,
// SEND_MESSAGES, ADD_REACTIONS, ATTACH_FILES, MANAGE_MESSAGES, MENTION_EVERYONE) around
// the SAME message store as direct messages (messaging/messages.ts at the CHANNEL
// location), plus the notifications a message causes. Nothing about storing, paging,
// editing, deleting or reacting is re-implemented here.
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { Db } from '../../db/database.ts';
import { fail, transaction, type TransactionContext } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { claimAttachments, type AttachmentView } from '../attachments/service.ts';
import type { AttachmentStorage } from '../attachments/storage.ts';
import { mentionedUsernames } from '../messaging/conversation-messages.ts';
import { CHANNEL } from '../messaging/location.ts';
import {
  appendMessage,
  checkContent,
  checkMessageAttachments,
  checkMessageType,
  checkNonce,
  editMessage,
  findByNonce,
  findMessage,
  findMessageView,
  listMessages,
  MESSAGE_MAX_LENGTH,
  readTargetSeq,
  softDeleteMessage,
  toMessageView,
  type HistoryOptions,
  type MessageRow,
  type MessageView,
  type SenderView,
} from '../messaging/messages.ts';
import { notify } from '../notifications/service.ts';
import { requirePermission, viewableChannel } from './guards.ts';
import { channelPermissions, has, loadChannelAccess, Permission, type ChannelAccess, type MemberContext } from './permissions.ts';
import { react, unreact } from '../messaging/reactions.ts';

export interface ChannelMessagingOptions {
  /** Longest text in characters (config.messages.maxLength). */
  maxLength?: number | undefined;
  /** Where deleted messages' attachment objects are removed from. */
  storage?: AttachmentStorage | undefined;
}

const EVERYONE = /(?:^|[^A-Za-z0-9_])@(everyone|here)(?![A-Za-z0-9_])/;

/** A channel the caller may view and that carries text; voice channels have no messages. */
async function textChannel(db: Db, channelId: string, userId: string): Promise<ChannelAccess> {
  const found = await viewableChannel(db, channelId, userId);
  if (found.channel.type === 'voice') throw new AppError('channel_not_text', 'voice channels carry no messages', 422);
  return found;
}

export interface SendInput {
  content: string;
  type?: string | null | undefined;
  reply_to_id?: string | null | undefined;
  attachment_ids?: string[] | null | undefined;
  nonce?: string | null | undefined;
}

/**
 * SEND_MESSAGES (and ATTACH_FILES with attachments). One transaction: seq bump, insert,
 * attachments claimed, the sender's read position, notifications; events after commit. A
 * nonce the sender already used returns that first message instead of a duplicate.
 * `@everyone` / `@here` notify every member who can view the channel, only for holders of
 * MENTION_EVERYONE (for others it stays plain text, as in Discord).
 */
export async function sendChannelMessage(
  db: Db,
  events: EventBus,
  sender: SenderView,
  channelId: string,
  input: SendInput,
  options: ChannelMessagingOptions = {},
): Promise<MessageView> {
  const found = await textChannel(db, channelId, sender.id);
  requirePermission(found.permissions, Permission.SEND_MESSAGES);
  const type = checkMessageType(input.type);
  const content = checkContent(input.content, type, options.maxLength ?? MESSAGE_MAX_LENGTH);
  const nonce = checkNonce(input.nonce);
  if (nonce) {
    const first = await findByNonce(db, CHANNEL, channelId, sender.id, nonce);
    if (first) return (await findMessageView(db, CHANNEL, channelId, first.id, sender.id))!;
  }
  if (input.attachment_ids?.length) requirePermission(found.permissions, Permission.ATTACH_FILES);
  const attachmentIds = await checkMessageAttachments(db, type, input.attachment_ids ?? []);
  let replyTarget: MessageRow | undefined;
  if (input.reply_to_id) {
    replyTarget = await findMessage(db, CHANNEL, channelId, input.reply_to_id);
    if (!replyTarget) throw new ValidationError({ reply_to_id: ['is not a message of this channel'] });
  }
  const mentionsEveryone = EVERYONE.test(content) && has(found.permissions, Permission.MENTION_EVERYONE);
  const outcome = await transaction(db, async (trx, ctx) => {
    const message = await appendMessage(trx, CHANNEL, {
      containerId: channelId,
      senderId: sender.id,
      content,
      type,
      replyToId: replyTarget?.id ?? null,
      nonce,
    });
    // Lost a race with a concurrent retry of the same nonce: undo the seq bump, return theirs.
    if (!message) return fail('nonce_taken' as const);
    const attachments: AttachmentView[] = await claimAttachments(trx, 'channel_message_id', message.id, sender.id, attachmentIds);
    // One's own message is read.
    await CHANNEL.markRead(trx, channelId, sender.id, message.seq);
    await notifyMentions(trx, { db, ctx, events }, { found, message, replyTarget, mentionsEveryone });
    ctx.afterCommit(() =>
      events.publish({ type: 'message.created', location: 'channel', containerId: channelId, messageId: message.id, senderId: sender.id }),
    );
    return { message, attachments };
  });
  if (!outcome.ok) {
    const first = nonce ? await findByNonce(db, CHANNEL, channelId, sender.id, nonce) : undefined;
    if (!first) throw new Error('sendChannelMessage: nonce conflict without a first message');
    return (await findMessageView(db, CHANNEL, channelId, first.id, sender.id))!;
  }
  return toMessageView(outcome.value.message, sender, [], outcome.value.attachments);
}

/**
 * Of the group's members (all of them, or those with the given user ids), the user ids of
 * those who may view the channel: one statement for the members and their roles, one for
 * the channel's overwrites, then the same pure function as every other check.
 */
export async function channelViewers(db: Db, found: ChannelAccess, userIds: readonly string[] | 'all'): Promise<string[]> {
  if (userIds !== 'all' && userIds.length === 0) return [];
  const groupId = found.channel.group_id;
  let query = db
    .selectFrom('group_members as gm')
    .select([
      'gm.id',
      'gm.user_id',
      (eb) =>
        jsonArrayFrom(
          eb
            .selectFrom('group_member_roles as mr')
            .innerJoin('roles as r', 'r.id', 'mr.role_id')
            .select(['r.id', 'r.position', 'r.permissions'])
            .whereRef('mr.group_member_id', '=', 'gm.id'),
        ).as('roles'),
    ])
    .where('gm.group_id', '=', groupId);
  if (userIds !== 'all') query = query.where('gm.user_id', 'in', [...userIds]);
  const [members, overwriteRows] = await Promise.all([
    query.execute(),
    db.selectFrom('channel_permission_overwrites').select(['role_id', 'allow', 'deny']).where('channel_id', '=', found.channel.id).execute(),
  ]);
  const overwrites = overwriteRows.map((o) => ({ role_id: o.role_id, allow: Number(o.allow), deny: Number(o.deny) }));
  const viewers: string[] = [];
  for (const member of members) {
    const context: MemberContext = {
      userId: member.user_id,
      groupId,
      ownerId: found.access.ownerId,
      memberId: member.id,
      everyone: found.access.everyone,
      roles: member.roles.map((r) => ({ id: r.id, position: r.position, permissions: Number(r.permissions) })),
    };
    if (has(channelPermissions(context, found.channel, overwrites), Permission.VIEW_CHANNEL)) viewers.push(member.user_id);
  }
  return viewers;
}

/** Recipients of a permitted @everyone notified per transaction, after the message commits. */
export const EVERYONE_BATCH = 500;

/**
 * One notification per recipient and message, the most specific kind: `mention` (an
 * @username, or everyone for a permitted @everyone), else `reply` (the author of the
 * message replied to). Only members who can view the channel; never the sender; notify()
 * skips recipients who blocked the sender, so a blocked user cannot mention the blocker.
 * A channel message notifies nobody otherwise: unread counts cover ordinary traffic.
 *
 * @username and reply notifications are few and go in the send transaction. A permitted
 * @everyone can mean 10 000 members: that fan-out runs once the message has committed, in
 * transactions of EVERYONE_BATCH, so the send never holds the channel's row lock (which
 * orders every sender in the channel) for the length of it.
 */
async function notifyMentions(
  trx: Db,
  after: { db: Db; ctx: TransactionContext; events: EventBus },
  input: { found: ChannelAccess; message: MessageRow; replyTarget: MessageRow | undefined; mentionsEveryone: boolean },
): Promise<void> {
  const { found, message, replyTarget, mentionsEveryone } = input;
  const data = { group_id: found.channel.group_id, channel_id: found.channel.id, message_id: message.id };
  if (mentionsEveryone) {
    // Everyone who can view the channel is mentioned, the reply's author included.
    after.ctx.afterCommit(() => notifyEveryone(after.db, after.events, found, message, data));
    return;
  }
  const mentioned = new Set<string>();
  const names = mentionedUsernames(message.content);
  if (names.length) {
    const users = await trx.selectFrom('users').select('id').where('username', 'in', names).execute();
    for (const id of await channelViewers(trx, found, users.map((u) => u.id))) mentioned.add(id);
  }
  const replyAuthor = replyTarget && !replyTarget.deleted_at ? replyTarget.sender_id : null;
  for (const userId of mentioned) {
    if (userId === message.sender_id) continue;
    await notify(trx, { userId, type: 'mention', actorId: message.sender_id, data }, after);
  }
  if (replyAuthor && replyAuthor !== message.sender_id && !mentioned.has(replyAuthor)) {
    const [viewer] = await channelViewers(trx, found, [replyAuthor]);
    if (viewer) {
      await notify(trx, { userId: viewer, type: 'reply', actorId: message.sender_id, data: { ...data, reply_to_id: replyTarget?.id } }, after);
    }
  }
}

async function notifyEveryone(db: Db, events: EventBus, found: ChannelAccess, message: MessageRow, data: Record<string, unknown>): Promise<void> {
  const viewers = (await channelViewers(db, found, 'all')).filter((id) => id !== message.sender_id);
  for (let from = 0; from < viewers.length; from += EVERYONE_BATCH) {
    const batch = viewers.slice(from, from + EVERYONE_BATCH);
    await transaction(db, async (trx, ctx) => {
      for (const userId of batch) await notify(trx, { userId, type: 'mention', actorId: message.sender_id, data }, { ctx, events });
      return null;
    });
  }
}

/** History needs READ_HISTORY (the channel itself needs VIEW_CHANNEL: 404 without). */
export async function listChannelMessages(db: Db, userId: string, channelId: string, opts: HistoryOptions) {
  const found = await textChannel(db, channelId, userId);
  requirePermission(found.permissions, Permission.READ_HISTORY);
  return listMessages(db, CHANNEL, channelId, userId, opts);
}

/** Author only; a deleted message is gone (404). Sets edited_at. */
export async function editChannelMessage(
  db: Db,
  events: EventBus,
  userId: string,
  channelId: string,
  messageId: string,
  content: string,
  options: ChannelMessagingOptions = {},
): Promise<MessageView> {
  await textChannel(db, channelId, userId);
  const current = await findMessage(db, CHANNEL, channelId, messageId);
  if (!current || current.deleted_at) throw new NotFoundError('message');
  if (current.sender_id !== userId) throw new AppError('not_message_author', 'only the author may edit a message', 403);
  const updated = await editMessage(db, CHANNEL, channelId, messageId, checkContent(content, current.type, options.maxLength ?? MESSAGE_MAX_LENGTH));
  if (!updated) throw new NotFoundError('message');
  events.publish({ type: 'message.updated', location: 'channel', containerId: channelId, messageId });
  return (await findMessageView(db, CHANNEL, channelId, messageId, userId))!;
}

/** Soft delete by the author or a holder of MANAGE_MESSAGES in the channel; again is a no-op. */
export async function deleteChannelMessage(
  db: Db,
  events: EventBus,
  userId: string,
  channelId: string,
  messageId: string,
  options: ChannelMessagingOptions = {},
): Promise<void> {
  const found = await textChannel(db, channelId, userId);
  const current = await findMessage(db, CHANNEL, channelId, messageId);
  if (!current) throw new NotFoundError('message');
  if (current.sender_id !== userId && !has(found.permissions, Permission.MANAGE_MESSAGES)) {
    throw new AppError('not_message_author', 'only the author or a holder of MANAGE_MESSAGES may delete a message', 403);
  }
  if (current.deleted_at) return;
  const outcome = await transaction(db, async (trx, ctx) => {
    const deleted = await softDeleteMessage(trx, CHANNEL, channelId, messageId);
    if (deleted) {
      const { storage } = options;
      // The rows went with the transaction; the bytes go once it has committed.
      if (storage && deleted.storageKeys.length) {
        ctx.afterCommit(async () => {
          await Promise.all(deleted.storageKeys.map((key) => storage.delete(key)));
        });
      }
      ctx.afterCommit(() => events.publish({ type: 'message.deleted', location: 'channel', containerId: channelId, messageId }));
    }
    return null;
  });
  if (!outcome.ok) throw new Error('unreachable');
}

/** ADD_REACTIONS; idempotent. */
export async function reactToChannelMessage(
  db: Db,
  events: EventBus,
  userId: string,
  channelId: string,
  messageId: string,
  emoji: string,
): Promise<void> {
  const found = await textChannel(db, channelId, userId);
  requirePermission(found.permissions, Permission.ADD_REACTIONS);
  await react(db, events, { loc: CHANNEL, containerId: channelId, messageId, userId, emoji });
}

/** Removing one's own reaction needs only to see the channel. */
export async function unreactToChannelMessage(
  db: Db,
  events: EventBus,
  userId: string,
  channelId: string,
  messageId: string,
  emoji: string,
): Promise<void> {
  await textChannel(db, channelId, userId);
  await unreact(db, events, { loc: CHANNEL, containerId: channelId, messageId, userId, emoji });
}

/** Marks read up to a message (default: the latest), per member per channel; never backwards. */
export async function markChannelRead(
  db: Db,
  userId: string,
  channelId: string,
  messageId?: string | null,
): Promise<{ last_read_seq: number; unread_count: number }> {
  await textChannel(db, channelId, userId);
  const seq = await readTargetSeq(db, CHANNEL, channelId, messageId);
  if (seq === undefined) throw new ValidationError({ message_id: ['is not a message of this channel'] });
  await CHANNEL.markRead(db, channelId, userId, seq);
  const row = await db
    .selectFrom('channels as c')
    .leftJoin('channel_read_states as rs', (join) => join.onRef('rs.channel_id', '=', 'c.id').on('rs.user_id', '=', userId))
    .select(['c.last_message_seq', 'rs.last_read_seq'])
    .where('c.id', '=', channelId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('channel');
  const lastRead = row.last_read_seq ?? 0;
  return { last_read_seq: lastRead, unread_count: Math.max(0, row.last_message_seq - lastRead) };
}

/**
 * For the attachments module (AttachmentAccess.channelMessage): may `userId` read the
 * channel message `channelMessageId` right now (VIEW_CHANNEL and READ_HISTORY)?
 */
export async function mayReadChannelMessage(db: Db, userId: string, channelMessageId: string): Promise<boolean> {
  const row = await db.selectFrom('channel_messages').select('channel_id').where('id', '=', channelMessageId).executeTakeFirst();
  if (!row) return false;
  const found = await loadChannelAccess(db, row.channel_id, userId);
  return found !== undefined && has(found.permissions, Permission.VIEW_CHANNEL | Permission.READ_HISTORY);
}
