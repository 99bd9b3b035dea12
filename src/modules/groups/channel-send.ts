// Sending in a channel: the channel's rules (VIEW_CHANNEL, SEND_MESSAGES, ATTACH_FILES,
// MENTION_EVERYONE; voice channels carry no messages) decided by the one permission
// function on the channel access, then the SAME one-statement send as direct messages
// (messaging/conversation-send.ts sendStatementAt at the CHANNEL location) with the
// channel's parts: the sender's membership and the access version the decision was made
// at (access-cache.ts), their read position, and the @username / reply notifications. A
// plain text message is ONE statement when the sender's access is kept, two (the access
// load first) when it is not or when the statement found it outdated.
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { enqueueJob } from '../../jobs/queue.ts';
import { completeSend, mentionedUsernames, sendStatementAt, type SendInput, type SendRow } from '../messaging/conversation-send.ts';
import { CHANNEL } from '../messaging/location.ts';
import {
  appendedMessage,
  appendParams,
  checkContent,
  checkMessageAttachments,
  checkMessageType,
  checkNonce,
  findMessageView,
  MESSAGE_MAX_LENGTH,
  type AppendParams,
  type MessageRow,
  type MessageView,
  type NewMessage,
  type SenderView,
} from '../messaging/messages.ts';
import { EVERYONE, EVERYONE_MENTION_JOB, mentionRecipients, type EveryoneMention, type Recipients } from './channel-notify.ts';
import { OutdatedAccess, withChannelGrant } from './access-cache.ts';
import { has, Permission, type ChannelAccess } from './permissions.ts';

export interface ChannelSendParams extends AppendParams {
  senderId: string;
  /** groups.access_version the sender's permissions were decided at. */
  accessVersion: number;
  /** Notification recipients (mentionRecipients), parallel arrays. */
  recipientIds: string[];
  recipientTypes: string[];
}

/**
 * A channel send in ONE statement (sendStatementAt): `me` is the sender's membership of the
 * channel's group, refused when the group's access version is no longer the one the
 * permission was decided at (the caller decides again on a fresh load; a member removed
 * meanwhile gets 404, not a message), `touched` moves the sender's read
 * position to their own message, and the recipients get `mention` / `reply` notifications
 * carrying group, channel and message ids. Exported for the benchmark's plain-pg baseline.
 */
export function channelSendQuery(p: ChannelSendParams): RawBuilder<SendRow> {
  const sender = sql<string>`${p.senderId}::uuid`;
  return sendStatementAt(CHANNEL, p, {
    me: sql`
      SELECT g.access_version <> ${p.accessVersion}::bigint AS refused, c.group_id
      FROM channels AS c JOIN groups AS g ON g.id = c.group_id
      JOIN group_members AS gm ON gm.group_id = c.group_id AND gm.user_id = ${sender}
      WHERE c.id = ${p.containerId}::uuid`,
    touched: sql`
      INSERT INTO channel_read_states AS rs (channel_id, user_id, last_read_seq, last_read_at)
      SELECT ${p.containerId}::uuid, ${sender}, m.seq, now() FROM appended AS m
      ON CONFLICT (channel_id, user_id) DO UPDATE
        SET last_read_seq = greatest(rs.last_read_seq, excluded.last_read_seq), last_read_at = now()
      RETURNING rs.user_id`,
    recipients: sql`
      SELECT r.user_id, r.type,
        jsonb_build_object('group_id', me.group_id, 'channel_id', ${p.containerId}::uuid, 'message_id', m.id)
          || CASE WHEN r.type = 'reply' THEN jsonb_build_object('reply_to_id', m.reply_to_id) ELSE '{}'::jsonb END AS data,
        NULL::text AS collapse_key
      FROM unnest(${p.recipientIds}::uuid[], ${p.recipientTypes}::text[]) AS r(user_id, type)
      CROSS JOIN appended AS m CROSS JOIN me`,
  });
}

/** The parameters of channelSendQuery for a new message. */
export function channelSendParams(
  input: NewMessage & { senderId: string; accessVersion: number },
  recipients: Recipients = { ids: [], types: [] },
): ChannelSendParams {
  return {
    ...appendParams(input),
    senderId: input.senderId,
    accessVersion: input.accessVersion,
    recipientIds: recipients.ids,
    recipientTypes: recipients.types,
  };
}

const channelSendStatement = prepare((db, p: ChannelSendParams) => ({ compile: () => channelSendQuery(p).compile(db) }));

export interface ChannelSendOptions {
  /** Longest text in characters (config.messages.maxLength). */
  maxLength?: number | undefined;
}

/**
 * What a send with a nonce or a reply must know first, in one statement: the message the
 * sender already sent with this nonce, the message replied to, and the group's access
 * version (an outdated access returns no earlier message).
 */
async function preflight(db: Db, channelId: string, senderId: string, nonce: string | null, replyToId: string | null) {
  return db
    .selectFrom('channels as c')
    .leftJoin('channel_messages as n', (join) =>
      join.onRef('n.channel_id', '=', 'c.id').on('n.sender_id', '=', senderId).on('n.nonce', '=', nonce),
    )
    .leftJoin('channel_messages as r', (join) => join.onRef('r.channel_id', '=', 'c.id').on('r.id', '=', replyToId))
    .innerJoin('groups as g', 'g.id', 'c.group_id')
    .select(['g.access_version', 'n.id as nonce_message_id', 'r.id as reply_id', 'r.sender_id as reply_sender_id', 'r.deleted_at as reply_deleted_at'])
    .where('c.id', '=', channelId)
    .executeTakeFirstOrThrow();
}

/**
 * SEND_MESSAGES (and ATTACH_FILES with attachments). A plain message is ONE statement (seq
 * bump, insert, the sender's read position, @username and reply notifications) when the
 * sender's access is kept (access-cache.ts), events once it returns. With a nonce,
 * attachments or a permitted @everyone the statement runs in a transaction, with the
 * attachments' claim or the @everyone job enqueued in it; events after commit. A nonce the
 * sender already used returns that first message instead of a duplicate (also when two
 * retries race: the loser rolls back, seq bump included, and returns the winner's message).
 * `@everyone` / `@here` ping only for holders of MENTION_EVERYONE (for others it stays
 * plain text). When the statement finds the access outdated (a permission changed since it
 * was decided) nothing was written: the access is loaded afresh and the send decided again.
 */
export async function sendChannelMessage(
  db: Db,
  events: EventBus,
  sender: SenderView,
  channelId: string,
  input: SendInput,
  options: ChannelSendOptions = {},
): Promise<MessageView> {
  // Every bit the send is refused without is asked of the grant, so no refusal comes from a
  // kept access (a refused bit is checked afresh); what the send merely adapts to
  // (MENTION_EVERYONE) is checked by the statement's version like the rest.
  const needed = Permission.SEND_MESSAGES | (input.attachment_ids?.length ? Permission.ATTACH_FILES : 0);
  return withChannelGrant(db, channelId, sender.id, needed, (found) => sendWith(db, events, sender, found, input, options));
}

/** The send, decided on `found` (which holds SEND_MESSAGES, and ATTACH_FILES for attachments); OutdatedAccess when its version is outdated. */
async function sendWith(
  db: Db,
  events: EventBus,
  sender: SenderView,
  found: ChannelAccess,
  input: SendInput,
  options: ChannelSendOptions,
): Promise<MessageView> {
  const channelId = found.channel.id;
  const type = checkMessageType(input.type);
  const content = checkContent(input.content, type, options.maxLength ?? MESSAGE_MAX_LENGTH);
  const nonce = checkNonce(input.nonce);
  const replyToId = input.reply_to_id ?? null;
  const requested = input.attachment_ids ?? [];
  let replyAuthorId: string | null = null;
  if (nonce || replyToId) {
    const pre = await preflight(db, channelId, sender.id, nonce, replyToId);
    if (pre.access_version !== found.access.accessVersion) throw new OutdatedAccess();
    if (pre.nonce_message_id) return (await findMessageView(db, CHANNEL, channelId, pre.nonce_message_id, sender.id))!;
    if (replyToId) {
      if (!pre.reply_id) throw new ValidationError({ reply_to_id: ['is not a message of this channel'] });
      replyAuthorId = pre.reply_deleted_at ? null : pre.reply_sender_id;
    }
  }
  const attachmentIds = await checkMessageAttachments(db, type, requested);
  const everyone = EVERYONE.test(content) && has(found.permissions, Permission.MENTION_EVERYONE);
  // A permitted @everyone mentions every viewer (the reply's author included): the job does it.
  const names = everyone ? [] : mentionedUsernames(content);
  const recipients = everyone ? undefined : await mentionRecipients(db, found, sender.id, names, replyAuthorId);
  const params = channelSendParams(
    { containerId: channelId, senderId: sender.id, accessVersion: found.access.accessVersion, content, type, replyToId, nonce },
    recipients,
  );
  return completeSend(db, events, {
    loc: CHANNEL,
    containerId: channelId,
    sender,
    nonce,
    attachmentIds,
    statement: async (executor) => (await channelSendStatement(executor, params))[0],
    sent,
    inTransaction: everyone
      ? async (trx, message) => {
          const job: EveryoneMention = { channel_id: channelId, message_id: message.id };
          // null: no worker ever declared the queue. Refuse the send (nothing is written)
          // rather than drop its pings; the client may retry once a worker has started.
          if ((await enqueueJob(trx, EVERYONE_MENTION_JOB, job)) === null) {
            throw new AppError('job_queue_unavailable', `the job queue ${EVERYONE_MENTION_JOB} is not declared yet: start a job worker (CGRAPH_WORKER)`, 503);
          }
        }
      : undefined,
  });
}

/** The message the statement inserted; undefined when the nonce was taken; 404 when the sender is no longer a member; OutdatedAccess when the access version moved. */
function sent(row: SendRow | undefined): MessageRow | undefined {
  if (!row || row.refused === null) throw new NotFoundError('channel');
  if (row.refused) throw new OutdatedAccess();
  return appendedMessage(row);
}
