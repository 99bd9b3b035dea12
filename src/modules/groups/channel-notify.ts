// Who a channel message notifies, decided by the one permission function: `mention` for
// each @username who is a member able to view the channel (every such member on a
// permitted @everyone), else `reply` to the author of the message replied to (if they can
// view it). Never the sender; notifyRecipientsSql skips recipients who blocked the sender.
// Ordinary channel traffic notifies nobody: unread counts cover it.
//
// @username and reply recipients are few: the send computes them first and its one
// statement inserts their notifications (channel-send.ts). A permitted @everyone can mean
// 10 000 members: the send enqueues a job in its own transaction (EVERYONE_MENTION_JOB)
// and the job inserts them all in one statement, so a crash after the send's commit loses
// nothing and the send never holds the channel's row lock for the fan-out.
import { sql } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { notificationCreated, notifyRecipientsSql } from '../notifications/service.ts';
import { channelPermissions, has, loadChannelAccess, Permission, type ChannelAccess, type MemberContext } from './permissions.ts';

/** `@everyone` / `@here` in a text (they ping only when the sender holds MENTION_EVERYONE). */
export const EVERYONE = /(?:^|[^A-Za-z0-9_])@(everyone|here)(?![A-Za-z0-9_])/;

/** Members to look at: all of them, those with these user ids, or those with these (lower-case) usernames. */
export type MemberFilter = 'all' | { userIds: readonly string[] } | { usernames: readonly string[] };

/**
 * Of the group's members picked by `filter`, the user ids of those who may view the
 * channel: one statement for the members and their roles, one for the channel's
 * overwrites, then the same pure function as every other check.
 */
export async function channelViewers(db: Db, found: ChannelAccess, filter: MemberFilter): Promise<string[]> {
  if (filter !== 'all' && ('userIds' in filter ? filter.userIds : filter.usernames).length === 0) return [];
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
  if (filter !== 'all' && 'userIds' in filter) query = query.where('gm.user_id', 'in', [...filter.userIds]);
  if (filter !== 'all' && 'usernames' in filter) {
    query = query.where('gm.user_id', 'in', (eb) => eb.selectFrom('users').select('id').where('username', 'in', [...filter.usernames]));
  }
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

/** The recipients of a send's own statement: parallel arrays (unnest) of user ids and notification types. */
export interface Recipients {
  ids: string[];
  types: Array<'mention' | 'reply'>;
}

/**
 * The `mention` and `reply` recipients of a message that is not a permitted @everyone:
 * @usernames who may view the channel, then the author of the live message replied to
 * (if they may view it and were not mentioned). The sender is left out. At most one
 * statement pair (channelViewers), none for a message without mentions or reply.
 */
export async function mentionRecipients(
  db: Db,
  found: ChannelAccess,
  senderId: string,
  names: readonly string[],
  replyAuthorId: string | null,
): Promise<Recipients> {
  const recipients: Recipients = { ids: [], types: [] };
  const mentioned = new Set(await channelViewers(db, found, { usernames: names }));
  mentioned.delete(senderId);
  for (const id of mentioned) {
    recipients.ids.push(id);
    recipients.types.push('mention');
  }
  if (replyAuthorId && replyAuthorId !== senderId && !mentioned.has(replyAuthorId)) {
    const [viewer] = await channelViewers(db, found, { userIds: [replyAuthorId] });
    if (viewer) {
      recipients.ids.push(viewer);
      recipients.types.push('reply');
    }
  }
  return recipients;
}

/** The queue of fanOutEveryoneMention (its policy: src/jobs/definitions.ts). */
export const EVERYONE_MENTION_JOB = 'groups.everyone-mention';

export interface EveryoneMention {
  channel_id: string;
  message_id: string;
}

/**
 * The job behind a permitted @everyone (EVERYONE_MENTION_JOB): a `mention` to every
 * member who may view the channel now, except the sender, in ONE statement. Each carries
 * the collapse key `mention:<message id>`, so a retried job (the process died after the
 * insert, before the queue recorded it done) refreshes the same unread notification
 * instead of adding a second. A message deleted meanwhile, or a sender gone, notifies
 * nobody. Returns how many notifications were written.
 */
export async function fanOutEveryoneMention(db: Db, events: EventBus | undefined, job: EveryoneMention): Promise<number> {
  const message = await db
    .selectFrom('channel_messages')
    .select(['id', 'sender_id', 'deleted_at'])
    .where('id', '=', job.message_id)
    .where('channel_id', '=', job.channel_id)
    .executeTakeFirst();
  if (!message?.sender_id || message.deleted_at) return 0;
  const found = await loadChannelAccess(db, job.channel_id, message.sender_id);
  if (!found) return 0;
  const ids = (await channelViewers(db, found, 'all')).filter((id) => id !== message.sender_id);
  if (ids.length === 0) return 0;
  const data = { group_id: found.channel.group_id, channel_id: found.channel.id, message_id: message.id };
  const recipients = sql`
    SELECT r.user_id, 'mention'::text AS type, ${JSON.stringify(data)}::jsonb AS data, ${`mention:${message.id}`}::text AS collapse_key
    FROM unnest(${ids}::uuid[]) AS r(user_id)`;
  const { rows } = await notifyRecipientsSql(recipients, sql<string>`${message.sender_id}::uuid`).execute(db);
  const created = rows as Array<{ id: string; user_id: string; type: string }>;
  if (events) for (const n of created) events.publish(notificationCreated({ id: n.id, userId: n.user_id, type: n.type }));
  return created.length;
}
