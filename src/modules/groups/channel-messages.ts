// Messages in channels: the channel's permission rules (VIEW_CHANNEL, READ_HISTORY,
// ADD_REACTIONS, MANAGE_MESSAGES) around the SAME message store as direct messages
// (messaging/messages.ts at the CHANNEL location). Nothing about storing, paging, editing,
// deleting or reacting is re-implemented here. Sending is channel-send.ts (re-exported),
// the notifications a message causes channel-notify.ts.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import type { AttachmentStorage } from '../attachments/storage.ts';
import { CHANNEL } from '../messaging/location.ts';
import {
  checkContent,
  editMessage,
  findMessage,
  findMessageView,
  MESSAGE_MAX_LENGTH,
  readTargetSeq,
  softDeleteMessage,
  type MessageView,
} from '../messaging/messages.ts';
import { listMessages, type HistoryGuard, type HistoryOptions, type MessagePage } from '../messaging/history.ts';
import type { RenderedJson } from '../../lib/rendered-json.ts';
import { react, unreact } from '../messaging/reactions.ts';
import { freshChannelGrant, OutdatedAccess, withChannelGrant } from './access-cache.ts';
import { requirePermission, textChannel } from './guards.ts';
import { has, loadChannelAccess, Permission } from './permissions.ts';

export { sendChannelMessage } from './channel-send.ts';

export interface ChannelMessagingOptions {
  /** Longest text in characters (config.messages.maxLength). */
  maxLength?: number | undefined;
  /** Where deleted messages' attachment objects are removed from. */
  storage?: AttachmentStorage | undefined;
}

/**
 * The guard of a channel's history page (HistoryOptions.guard): the reader is still a
 * member and the group's access version is still the one their READ_HISTORY was decided
 * at (guardArg; access-cache.ts). Otherwise the page comes back empty.
 */
export const channelAccessGuard: HistoryGuard = ({ containerId, viewerId, guardArg }) => sql<boolean>`EXISTS (
  SELECT 1 FROM channels AS c JOIN groups AS g ON g.id = c.group_id
  JOIN group_members AS gm ON gm.group_id = c.group_id AND gm.user_id = ${viewerId}::uuid
  WHERE c.id = ${containerId}::uuid AND g.access_version = ${guardArg}::bigint
)`;

/**
 * History needs READ_HISTORY (the channel itself needs VIEW_CHANNEL: 404 without). With the
 * reader's access kept (access-cache.ts) a page is ONE statement, its guard checking the
 * access version; an empty page asks again afresh, to tell "no messages" from "access
 * changed" (then decided again and retried).
 */
export async function listChannelMessages(
  db: Db,
  userId: string,
  channelId: string,
  opts: HistoryOptions,
): Promise<RenderedJson<MessagePage>> {
  return withChannelGrant(db, channelId, userId, Permission.READ_HISTORY, async (found) => {
    const version = found.access.accessVersion;
    const page = await listMessages(db, CHANNEL, channelId, userId, { ...opts, guard: channelAccessGuard, guardArg: version });
    if (page.size > 0) return page;
    const fresh = await freshChannelGrant(db, channelId, userId, Permission.READ_HISTORY);
    if (fresh.access.accessVersion !== version) throw new OutdatedAccess(fresh);
    return page;
  });
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
