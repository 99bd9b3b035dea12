// Channels and their permission overwrites. The channel list (channel-list.ts) carries each
// visible channel's effective permissions and unread count, ONE statement whatever the
// number of channels and roles. Channels the caller may not view are left out of lists and
// are 404 everywhere else.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import {
  checkBits,
  checkName,
  checkOptionalText,
  isForeignKeyViolation,
  memberAccess,
  requireGrantable,
  requirePermission,
  requireRoleBelow,
  viewableChannel,
} from './guards.ts';
import type { RenderedJson } from '../../lib/rendered-json.ts';
import { listChannels } from './channel-list.ts';
import {
  has,
  Permission,
  type ChannelRow,
  type Overwrite,
} from './permissions.ts';

export const CHANNEL_TYPES = ['text', 'voice', 'announcement'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];
export const MAX_CHANNELS = 500;
export const TOPIC_MAX = 1024;
export const MAX_POSITION = 100_000;

export interface ChannelView {
  id: string;
  group_id: string;
  category_id: string | null;
  name: string;
  type: ChannelType;
  topic: string | null;
  position: number;
  is_private: boolean;
  permissions: number;
  last_message_seq: number;
  last_message_at: string | null;
  last_read_seq: number;
  unread_count: number;
  overwrites?: Overwrite[];
  inserted_at: string;
  updated_at: string;
}

export function toChannelView(row: ChannelRow, permissions: number, lastReadSeq: number): ChannelView {
  return {
    id: row.id,
    group_id: row.group_id,
    category_id: row.category_id,
    name: row.name,
    type: row.type,
    topic: row.topic,
    position: row.position,
    is_private: row.is_private,
    permissions,
    last_message_seq: row.last_message_seq,
    last_message_at: row.last_message_at?.toISOString() ?? null,
    last_read_seq: lastReadSeq,
    unread_count: Math.max(0, row.last_message_seq - lastReadSeq),
    inserted_at: row.inserted_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export { listChannels };

async function readSeq(db: Db, channelId: string, userId: string): Promise<number> {
  const row = await db
    .selectFrom('channel_read_states')
    .select('last_read_seq')
    .where('channel_id', '=', channelId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row?.last_read_seq ?? 0;
}

/** One channel; holders of MANAGE_ROLES there also see all of its overwrites. */
export async function getChannel(db: Db, userId: string, channelId: string): Promise<ChannelView> {
  const found = await viewableChannel(db, channelId, userId);
  const view = toChannelView(found.channel, found.permissions, await readSeq(db, channelId, userId));
  if (has(found.permissions, Permission.MANAGE_ROLES)) {
    const rows = await db
      .selectFrom('channel_permission_overwrites')
      .select(['role_id', 'allow', 'deny'])
      .where('channel_id', '=', channelId)
      .orderBy('role_id')
      .execute();
    view.overwrites = rows.map((o) => ({ role_id: o.role_id, allow: Number(o.allow), deny: Number(o.deny) }));
  }
  return view;
}

function checkPosition(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0 || value > MAX_POSITION) {
    throw new ValidationError({ position: [`must be between 0 and ${MAX_POSITION}`] });
  }
  return value;
}

function checkType(value: string | undefined): ChannelType {
  const type = value ?? 'text';
  if (!(CHANNEL_TYPES as readonly string[]).includes(type)) throw new ValidationError({ type: ['must be text, voice or announcement'] });
  return type as ChannelType;
}

const unknownCategory = () => new ValidationError({ category_id: ['is not a category of this group'] });

export interface ChannelInput {
  name?: string | undefined;
  type?: string | undefined;
  topic?: string | null | undefined;
  category_id?: string | null | undefined;
  position?: number | undefined;
  is_private?: boolean | undefined;
}

/** MANAGE_CHANNELS. Without a position the channel goes last. */
export async function createChannel(db: Db, events: EventBus, userId: string, groupId: string, input: ChannelInput): Promise<ChannelView> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.MANAGE_CHANNELS);
  const name = checkName('name', input.name ?? '');
  const type = checkType(input.type);
  const topic = checkOptionalText('topic', input.topic, TOPIC_MAX) ?? null;
  const position = checkPosition(input.position);
  let outcome;
  try {
    outcome = await transaction(db, async (trx, ctx) => {
      // The group row lock serialises channel creation: the cap holds, and "last" is exact.
      await trx.selectFrom('groups').select('id').where('id', '=', groupId).forUpdate().executeTakeFirstOrThrow();
      const stats = await trx
        .selectFrom('channels')
        .select([sql<number>`count(*)::int`.as('count'), sql<number>`coalesce(max(position) + 1, 0)::int`.as('next')])
        .where('group_id', '=', groupId)
        .executeTakeFirstOrThrow();
      if (stats.count >= MAX_CHANNELS) throw new AppError('conflict', `a group has at most ${MAX_CHANNELS} channels`, 409);
      const row = await trx
        .insertInto('channels')
        .values({
          id: newId(),
          group_id: groupId,
          name,
          type,
          topic,
          category_id: input.category_id ?? null,
          position: position ?? Math.min(stats.next, MAX_POSITION),
          is_private: input.is_private ?? false,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      ctx.afterCommit(() => events.publish({ type: 'channel.updated', groupId, channelId: row.id, change: 'created' }));
      return row;
    });
  } catch (error) {
    if (isForeignKeyViolation(error, 'channels_category_id_fkey')) throw unknownCategory();
    throw error;
  }
  if (!outcome.ok) throw new Error('unreachable');
  return getChannel(db, userId, outcome.value.id);
}

/** A channel the caller can see, with MANAGE_CHANNELS there (after overwrites). */
async function manageableChannel(db: Db, userId: string, channelId: string) {
  const found = await viewableChannel(db, channelId, userId);
  requirePermission(found.permissions, Permission.MANAGE_CHANNELS);
  return found;
}

export async function updateChannel(db: Db, events: EventBus, userId: string, channelId: string, input: ChannelInput): Promise<ChannelView> {
  const { channel } = await manageableChannel(db, userId, channelId);
  const changes: { name?: string; topic?: string | null; category_id?: string | null; position?: number; is_private?: boolean } = {};
  if (input.name !== undefined) changes.name = checkName('name', input.name);
  if (input.topic !== undefined) changes.topic = checkOptionalText('topic', input.topic, TOPIC_MAX) ?? null;
  if (input.category_id !== undefined) changes.category_id = input.category_id;
  if (input.position !== undefined) changes.position = checkPosition(input.position)!;
  if (input.is_private !== undefined) changes.is_private = input.is_private;
  if (Object.keys(changes).length > 0) {
    try {
      await db.updateTable('channels').set({ ...changes, updated_at: sql<Date>`now()` }).where('id', '=', channelId).execute();
    } catch (error) {
      if (isForeignKeyViolation(error, 'channels_category_id_fkey')) throw unknownCategory();
      throw error;
    }
    events.publish({ type: 'channel.updated', groupId: channel.group_id, channelId, change: 'updated' });
  }
  // Making a channel private can hide it from the caller; then it is gone for them too.
  return getChannel(db, userId, channelId);
}

/** Its messages, read states and overwrites go with it (cascades). */
export async function deleteChannel(db: Db, events: EventBus, userId: string, channelId: string): Promise<void> {
  const { channel } = await manageableChannel(db, userId, channelId);
  const result = await db.deleteFrom('channels').where('id', '=', channelId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('channel');
  events.publish({ type: 'channel.updated', groupId: channel.group_id, channelId, change: 'deleted' });
}

export interface ReorderInput {
  channels?: Array<{ id: string; position: number; category_id?: string | null | undefined }> | undefined;
  categories?: Array<{ id: string; position: number }> | undefined;
}

/**
 * MANAGE_CHANNELS: sets many positions (and categories) at once, in one transaction, so
 * a drag-and-drop never leaves the list half-moved. Every id must belong to the group.
 */
export async function reorder(
  db: Db,
  events: EventBus,
  userId: string,
  groupId: string,
  input: ReorderInput,
): Promise<RenderedJson<{ data: ChannelView[]; next_cursor: null }>> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.MANAGE_CHANNELS);
  const channels = input.channels ?? [];
  const categories = input.categories ?? [];
  for (const item of [...channels, ...categories]) checkPosition(item.position);
  if (new Set(channels.map((c) => c.id)).size !== channels.length) throw new ValidationError({ channels: ['lists a channel twice'] });
  if (new Set(categories.map((c) => c.id)).size !== categories.length) throw new ValidationError({ categories: ['lists a category twice'] });
  const moved: string[] = [];
  let outcome;
  try {
    outcome = await transaction(db, async (trx) => {
      for (const item of channels) {
        const result = await trx
          .updateTable('channels')
          .set({
            position: item.position,
            ...(item.category_id !== undefined ? { category_id: item.category_id } : {}),
            updated_at: sql<Date>`now()`,
          })
          .where('group_id', '=', groupId)
          .where('id', '=', item.id)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) throw new ValidationError({ channels: [`${item.id} is not a channel of this group`] });
        moved.push(item.id);
      }
      for (const item of categories) {
        const result = await trx
          .updateTable('channel_categories')
          .set({ position: item.position, updated_at: sql<Date>`now()` })
          .where('group_id', '=', groupId)
          .where('id', '=', item.id)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) throw new ValidationError({ categories: [`${item.id} is not a category of this group`] });
      }
      return null;
    });
  } catch (error) {
    if (isForeignKeyViolation(error, 'channels_category_id_fkey')) throw unknownCategory();
    throw error;
  }
  if (!outcome.ok) throw new Error('unreachable');
  for (const channelId of moved) events.publish({ type: 'channel.updated', groupId, channelId, change: 'updated' });
  return listChannels(db, userId, groupId);
}

// -- overwrites --------------------------------------------------------------------------

/**
 * PUT /channels/:id/permissions/:role_id: MANAGE_ROLES in the channel, a role below the
 * caller's highest, and only bits the caller holds (in either list).
 */
export async function putOverwrite(
  db: Db,
  events: EventBus,
  userId: string,
  channelId: string,
  roleId: string,
  input: { allow: number; deny: number },
): Promise<Overwrite> {
  const found = await viewableChannel(db, channelId, userId);
  requirePermission(found.permissions, Permission.MANAGE_ROLES);
  const allow = checkBits('allow', input.allow);
  const deny = checkBits('deny', input.deny);
  if ((allow & deny) !== 0) throw new ValidationError({ deny: ['must not share bits with allow'] });
  const groupId = found.channel.group_id;
  const role = await db.selectFrom('roles').select(['id', 'position']).where('group_id', '=', groupId).where('id', '=', roleId).executeTakeFirst();
  if (!role) throw new NotFoundError('role');
  requireRoleBelow(found.access, role.position);
  requireGrantable(found.access, allow | deny);
  const row = await db
    .insertInto('channel_permission_overwrites')
    .values({ group_id: groupId, channel_id: channelId, role_id: roleId, allow, deny })
    .onConflict((oc) => oc.columns(['channel_id', 'role_id']).doUpdateSet({ allow, deny, updated_at: sql<Date>`now()` }))
    .returning(['role_id', 'allow', 'deny'])
    .executeTakeFirstOrThrow();
  events.publish({ type: 'channel.updated', groupId, channelId, change: 'updated' });
  return { role_id: row.role_id, allow: Number(row.allow), deny: Number(row.deny) };
}

export async function deleteOverwrite(db: Db, events: EventBus, userId: string, channelId: string, roleId: string): Promise<void> {
  const found = await viewableChannel(db, channelId, userId);
  requirePermission(found.permissions, Permission.MANAGE_ROLES);
  const groupId = found.channel.group_id;
  const role = await db.selectFrom('roles').select(['id', 'position']).where('group_id', '=', groupId).where('id', '=', roleId).executeTakeFirst();
  if (!role) throw new NotFoundError('role');
  requireRoleBelow(found.access, role.position);
  const result = await db.deleteFrom('channel_permission_overwrites').where('channel_id', '=', channelId).where('role_id', '=', roleId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('overwrite');
  events.publish({ type: 'channel.updated', groupId, channelId, change: 'updated' });
}
