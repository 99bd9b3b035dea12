// Groups themselves: create (owner + @everyone + #general in one transaction), read,
// update, delete, the caller's list, public discovery and ownership transfer.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { keysetPage } from '../../db/pagination.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { checkName, checkOptionalText, memberAccess, requireOwner, requirePermission } from './guards.ts';
import { ALL_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, has, loadGroupAccess, Permission, type GroupAccess } from './permissions.ts';

export const GROUP_NAME_MAX = 100;
export const GROUP_DESCRIPTION_MAX = 1000;

export interface GroupView {
  id: string;
  name: string;
  description: string | null;
  icon_url: string | null;
  is_public: boolean;
  owner_id: string;
  member_count: number;
  /** Whether the caller is a member. */
  member: boolean;
  /** The caller's group-level permission bits (0 for non-members). */
  permissions: number;
  /** The current default invite; only for members who may create invites. */
  invite_code: string | null;
  inserted_at: string;
  updated_at: string;
}

interface GroupRow {
  id: string;
  name: string;
  description: string | null;
  icon_url: string | null;
  is_public: boolean;
  owner_id: string;
  member_count: number;
  invite_code: string | null;
  inserted_at: Date;
  updated_at: Date;
}

function toView(row: GroupRow, member: boolean, permissions: number): GroupView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    icon_url: row.icon_url,
    is_public: row.is_public,
    owner_id: row.owner_id,
    member_count: row.member_count,
    member,
    permissions,
    invite_code: member && has(permissions, Permission.CREATE_INVITE) ? row.invite_code : null,
    inserted_at: row.inserted_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export const accessView = (access: GroupAccess): GroupView => toView(access.group, access.memberId !== null, access.permissions);

function checkIconUrl(value: string | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  const trimmed = value.trim();
  if (trimmed === '') return null;
  if (trimmed.length > 2048 || !/^https?:\/\/\S+$/.test(trimmed)) {
    throw new ValidationError({ icon_url: ['must be an http(s) URL of at most 2048 characters'] });
  }
  return trimmed;
}

export interface CreateGroupInput {
  name: string;
  description?: string | null | undefined;
  icon_url?: string | null | undefined;
  is_public?: boolean | undefined;
}

/**
 * One transaction: the group (owned by the caller), its @everyone role (position 0,
 * the default permissions), the owner's membership and a #general text channel.
 */
export async function createGroup(db: Db, events: EventBus, userId: string, input: CreateGroupInput): Promise<GroupView> {
  const name = checkName('name', input.name, GROUP_NAME_MAX);
  const description = checkOptionalText('description', input.description, GROUP_DESCRIPTION_MAX) ?? null;
  const iconUrl = checkIconUrl(input.icon_url) ?? null;
  const groupId = newId();
  const outcome = await transaction(db, async (trx, ctx) => {
    const group = await trx
      .insertInto('groups')
      .values({ id: groupId, name, description, icon_url: iconUrl, is_public: input.is_public ?? false, owner_id: userId })
      .returning('id')
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('roles')
      .values({ id: newId(), group_id: groupId, name: '@everyone', position: 0, permissions: DEFAULT_EVERYONE_PERMISSIONS, is_default: true })
      .execute();
    await trx.insertInto('group_members').values({ id: newId(), group_id: groupId, user_id: userId }).execute();
    await trx.insertInto('channels').values({ id: newId(), group_id: groupId, name: 'general', type: 'text', position: 0 }).execute();
    ctx.afterCommit(() => events.publish({ type: 'member.joined', groupId, userId }));
    return group.id;
  });
  if (!outcome.ok) throw new Error('unreachable');
  // Read back: member_count is the trigger's, set after the INSERT … RETURNING.
  return accessView(await memberAccess(db, outcome.value, userId));
}

/** Members see their group; anyone sees a public group (without its invite); else 404. */
export async function getGroup(db: Db, userId: string, groupId: string): Promise<GroupView> {
  const access = await loadGroupAccess(db, groupId, userId);
  if (!access || (!access.memberId && !access.group.is_public)) throw new NotFoundError('group');
  return accessView(access);
}

// Unaliased: keysetPage takes queries over the schema's own table names.
const GROUP_COLUMNS = [
  'groups.id',
  'groups.name',
  'groups.description',
  'groups.icon_url',
  'groups.is_public',
  'groups.owner_id',
  'groups.member_count',
  'groups.invite_code',
  'groups.inserted_at',
  'groups.updated_at',
] as const;

export interface PageOptions {
  cursor?: string | undefined;
  limit: number;
}

/**
 * The caller's groups, keyset-paged on group id (the (user_id, group_id) index), each with
 * the caller's permissions (their roles aggregated in the same statement).
 */
export async function listMyGroups(db: Db, userId: string, opts: PageOptions) {
  const page = await keysetPage(
    db
      .selectFrom('group_members')
      .innerJoin('groups', 'groups.id', 'group_members.group_id')
      .select([
        ...GROUP_COLUMNS,
        // The keyset column (the (user_id, group_id) index order), read back for the cursor.
        'group_members.group_id',
        sql<number>`(
          SELECT r.permissions FROM roles AS r WHERE r.group_id = groups.id AND r.is_default
        ) | coalesce((
          SELECT bit_or(r.permissions) FROM group_member_roles AS mr JOIN roles AS r ON r.id = mr.role_id
          WHERE mr.group_member_id = group_members.id
        ), 0)`.as('combined_permissions'),
      ])
      .where('group_members.user_id', '=', userId),
    { id: 'group_members.group_id', direction: 'asc', limit: opts.limit, cursor: opts.cursor },
  );
  return {
    data: page.data.map((row) => {
      const combined = Number(row.combined_permissions) & ALL_PERMISSIONS;
      const all = row.owner_id === userId || has(combined, Permission.ADMINISTRATOR);
      return toView(row, true, all ? ALL_PERMISSIONS : combined);
    }),
    next_cursor: page.next_cursor,
  };
}

/** Public groups, biggest first, keyset-paged on (member_count, id): the partial discovery index. */
export async function discoverGroups(db: Db, userId: string, opts: PageOptions) {
  const page = await keysetPage(
    db
      .selectFrom('groups')
      .select([
        ...GROUP_COLUMNS,
        sql<boolean>`EXISTS (SELECT 1 FROM group_members AS gm WHERE gm.group_id = groups.id AND gm.user_id = ${userId}::uuid)`.as('is_member'),
      ])
      .where('groups.is_public', '=', true),
    { sortKey: 'groups.member_count', id: 'groups.id', direction: 'desc', limit: opts.limit, cursor: opts.cursor },
  );
  // The invite code stays hidden here even for members: discovery is a public listing.
  return { data: page.data.map((row) => toView(row, row.is_member, 0)), next_cursor: page.next_cursor };
}

export interface UpdateGroupInput {
  name?: string | undefined;
  description?: string | null | undefined;
  icon_url?: string | null | undefined;
  is_public?: boolean | undefined;
}

/** MANAGE_GROUP. */
export async function updateGroup(db: Db, events: EventBus, userId: string, groupId: string, input: UpdateGroupInput): Promise<GroupView> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.MANAGE_GROUP);
  const changes = {
    ...(input.name !== undefined ? { name: checkName('name', input.name, GROUP_NAME_MAX) } : {}),
    ...(input.description !== undefined ? { description: checkOptionalText('description', input.description, GROUP_DESCRIPTION_MAX) ?? null } : {}),
    ...(input.icon_url !== undefined ? { icon_url: checkIconUrl(input.icon_url) ?? null } : {}),
    ...(input.is_public !== undefined ? { is_public: input.is_public } : {}),
  };
  if (Object.keys(changes).length === 0) return accessView(access);
  const row = await db
    .updateTable('groups')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('id', '=', groupId)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new NotFoundError('group');
  events.publish({ type: 'group.updated', groupId });
  return toView(row, true, access.permissions);
}

/** Owner only; everything in the group goes with it (foreign keys cascade). */
export async function deleteGroup(db: Db, events: EventBus, userId: string, groupId: string): Promise<void> {
  const access = await memberAccess(db, groupId, userId);
  requireOwner(access);
  const result = await db.deleteFrom('groups').where('id', '=', groupId).where('owner_id', '=', userId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('group');
  events.publish({ type: 'group.deleted', groupId });
}

/**
 * Owner only: hands the group to another member. The previous owner stays a member with
 * their roles. The UPDATE re-checks the owner, so two concurrent transfers cannot both win.
 */
export async function transferOwnership(
  db: Db,
  events: EventBus,
  userId: string,
  groupId: string,
  newOwnerId: string,
): Promise<GroupView> {
  const access = await memberAccess(db, groupId, userId);
  requireOwner(access);
  if (newOwnerId === userId) return accessView(access);
  const row = await db
    .updateTable('groups as g')
    .set({ owner_id: newOwnerId, updated_at: sql<Date>`now()` })
    .where('g.id', '=', groupId)
    .where('g.owner_id', '=', userId)
    .where((eb) =>
      eb.exists(eb.selectFrom('group_members as gm').select('gm.id').where('gm.group_id', '=', groupId).where('gm.user_id', '=', newOwnerId)),
    )
    .returningAll()
    .executeTakeFirst();
  if (!row) {
    const still = await loadGroupAccess(db, groupId, userId);
    if (still?.ownerId !== userId) throw new NotFoundError('group');
    throw new ValidationError({ user_id: ['is not a member of this group'] });
  }
  events.publish({ type: 'group.updated', groupId });
  const after = await memberAccess(db, groupId, userId);
  return accessView(after);
}
