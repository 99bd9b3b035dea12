// Who may do what in a group: the permission bitfield of the contract (API.md), ONE pure
// function that resolves a member's permissions (for the group, and for a channel), the
// role hierarchy, and the loaders that fetch exactly what that function needs, fresh (one
// statement for a group, one for a channel; the channel list, one statement too, is
// channel-list.ts and folds its overwrites in SQL for channelPermissionsFolded).
// REST routes and the realtime gateway both decide through here. The hot paths may keep a
// loaded access between requests (access-cache.ts), but only through a statement that
// checks the group's access_version in the same snapshot, so removing a member or a role
// counts on the next call.
import { sql, type SqlBool } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { Db } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';

export const Permission = {
  VIEW_CHANNEL: 1,
  SEND_MESSAGES: 2,
  READ_HISTORY: 4,
  ADD_REACTIONS: 8,
  ATTACH_FILES: 16,
  MENTION_EVERYONE: 32,
  MANAGE_MESSAGES: 64,
  MANAGE_CHANNELS: 128,
  MANAGE_ROLES: 256,
  KICK_MEMBERS: 512,
  BAN_MEMBERS: 1024,
  CREATE_INVITE: 2048,
  MANAGE_GROUP: 4096,
  CONNECT: 8192,
  SPEAK: 16384,
  ADMINISTRATOR: 32768,
} as const;
export type PermissionName = keyof typeof Permission;

/** Every defined bit. Roles and overwrites may only carry these. */
export const ALL_PERMISSIONS = Object.values(Permission).reduce((all, bit) => all | bit, 0);

/** What `@everyone` may do in a new group: take part, not moderate. */
export const DEFAULT_EVERYONE_PERMISSIONS =
  Permission.VIEW_CHANNEL |
  Permission.SEND_MESSAGES |
  Permission.READ_HISTORY |
  Permission.ADD_REACTIONS |
  Permission.ATTACH_FILES |
  Permission.CREATE_INVITE |
  Permission.CONNECT |
  Permission.SPEAK;

/** Bits that only mean something inside a channel: a channel the caller cannot view grants none. */
const CHANNEL_BITS =
  Permission.VIEW_CHANNEL |
  Permission.SEND_MESSAGES |
  Permission.READ_HISTORY |
  Permission.ADD_REACTIONS |
  Permission.ATTACH_FILES |
  Permission.MENTION_EVERYONE |
  Permission.MANAGE_MESSAGES |
  Permission.CONNECT |
  Permission.SPEAK;

export const has = (permissions: number, bit: number): boolean => (permissions & bit) === bit;

/** The names of the bits set, for documentation and error messages. */
export function permissionNames(permissions: number): PermissionName[] {
  return (Object.keys(Permission) as PermissionName[]).filter((name) => has(permissions, Permission[name]));
}

export interface RoleGrant {
  id: string;
  position: number;
  permissions: number;
}

/** Everything the pure functions need about one user in one group. */
export interface MemberContext {
  userId: string;
  groupId: string;
  ownerId: string;
  /** null when the user is not a member (a banned user is never a member). */
  memberId: string | null;
  everyone: RoleGrant;
  /** The member's roles other than @everyone. */
  roles: RoleGrant[];
}

export interface ChannelFacts {
  id: string;
  type: 'text' | 'voice' | 'announcement';
  is_private: boolean;
}

export interface Overwrite {
  role_id: string;
  allow: number;
  deny: number;
}

export const isMember = (m: MemberContext): boolean => m.memberId !== null;
export const isOwner = (m: MemberContext): boolean => isMember(m) && m.userId === m.ownerId;

/**
 * Group-level permissions: 0 for a non-member; everything for the owner or an
 * ADMINISTRATOR; else `@everyone` OR the member's roles.
 */
export function basePermissions(m: MemberContext): number {
  if (!isMember(m)) return 0;
  if (isOwner(m)) return ALL_PERMISSIONS;
  let permissions = m.everyone.permissions;
  for (const role of m.roles) permissions |= role.permissions;
  if (has(permissions, Permission.ADMINISTRATOR)) return ALL_PERMISSIONS;
  return permissions & ALL_PERMISSIONS;
}

/**
 * The overwrites of one channel that apply to one member, folded: the `@everyone`
 * overwrite, and the member's role overwrites OR-ed together (all their allows, all their
 * denies). A missing overwrite folds to 0 / 0, which changes nothing. The channel list
 * gets this folded shape straight from SQL (bit_or), every other caller from
 * foldOverwrites: either way the rule that applies it is channelPermissionsFolded.
 */
export interface FoldedOverwrites {
  everyoneAllow: number;
  everyoneDeny: number;
  rolesAllow: number;
  rolesDeny: number;
}

/** Folds the overwrites that concern `m` (@everyone's, their roles'); others are ignored. */
export function foldOverwrites(m: MemberContext, overwrites: readonly Overwrite[]): FoldedOverwrites {
  const folded: FoldedOverwrites = { everyoneAllow: 0, everyoneDeny: 0, rolesAllow: 0, rolesDeny: 0 };
  for (const overwrite of overwrites) {
    if (overwrite.role_id === m.everyone.id) {
      folded.everyoneAllow |= overwrite.allow;
      folded.everyoneDeny |= overwrite.deny;
    } else if (m.roles.some((role) => role.id === overwrite.role_id)) {
      folded.rolesAllow |= overwrite.allow;
      folded.rolesDeny |= overwrite.deny;
    }
  }
  return folded;
}

/**
 * Permissions in one channel. Owner and ADMINISTRATOR: everything. Otherwise the base
 * permissions, then the `@everyone` overwrite (deny, then allow), then the member's role
 * overwrites taken together (all their denies, then all their allows, so an allow on any
 * of the member's roles wins over a deny on another). The schema has no per-member
 * overwrites. A private channel starts without VIEW_CHANNEL: only an overwrite that allows
 * it (to @everyone or one of the member's roles) opens it. In an announcement channel
 * SEND_MESSAGES also needs MANAGE_MESSAGES. Without VIEW_CHANNEL no channel bit survives.
 */
export function channelPermissions(m: MemberContext, channel: ChannelFacts, overwrites: readonly Overwrite[]): number {
  return channelPermissionsFolded(basePermissions(m), channel, foldOverwrites(m, overwrites));
}

/**
 * channelPermissions from the member's base permissions (basePermissions, computed once
 * per request however many channels) and the channel's folded overwrites: THE rule, which
 * every channel decision (REST, the channel list, the gateway) ends in.
 */
export function channelPermissionsFolded(base: number, channel: Pick<ChannelFacts, 'type' | 'is_private'>, o: FoldedOverwrites): number {
  // ALL_PERMISSIONS includes ADMINISTRATOR: only the owner and administrators have it.
  if (base === ALL_PERMISSIONS) return ALL_PERMISSIONS;
  if (base === 0) return 0;
  let permissions = channel.is_private ? base & ~Permission.VIEW_CHANNEL : base;
  permissions = (permissions & ~o.everyoneDeny) | o.everyoneAllow;
  permissions = ((permissions & ~o.rolesDeny) | o.rolesAllow) & ALL_PERMISSIONS;
  if (channel.type === 'announcement' && !has(permissions, Permission.MANAGE_MESSAGES)) {
    permissions &= ~Permission.SEND_MESSAGES;
  }
  if (!has(permissions, Permission.VIEW_CHANNEL)) permissions &= ~CHANNEL_BITS;
  return permissions;
}

export const canViewChannelWith = (m: MemberContext, channel: ChannelFacts, overwrites: readonly Overwrite[]): boolean =>
  has(channelPermissions(m, channel, overwrites), Permission.VIEW_CHANNEL);

// -- hierarchy ---------------------------------------------------------------------------

/** The member's rank: the owner outranks everyone; @everyone is position 0; a non-member is below all. */
export function highestPosition(m: MemberContext): number {
  if (!isMember(m)) return -1;
  if (isOwner(m)) return Number.POSITIVE_INFINITY;
  return m.roles.reduce((top, role) => Math.max(top, role.position), m.everyone.position);
}

/** May `actor` edit, assign or remove a role at `position`? Only strictly below their own highest. */
export const canManageRoleAt = (actor: MemberContext, position: number): boolean => highestPosition(actor) > position;

/**
 * May `actor` act on `target` (kick, ban, change their roles or nickname)? Never on the
 * owner; the owner on anyone else; others only on members ranked strictly below them.
 */
export function outranks(actor: MemberContext, target: MemberContext): boolean {
  if (isOwner(target)) return false;
  if (isOwner(actor)) return true;
  return highestPosition(actor) > highestPosition(target);
}

/**
 * May a role (or an overwrite) given by `actor` carry `permissions`? The owner and
 * administrators may grant anything; others only bits they hold themselves, so nobody
 * raises their own (or anyone's) powers past their own.
 */
export const canGrant = (actor: MemberContext, permissions: number): boolean => {
  const mine = basePermissions(actor);
  return (permissions & ~mine) === 0;
};

// -- loaders -----------------------------------------------------------------------------

export interface GroupAccess extends MemberContext {
  group: {
    id: string;
    name: string;
    description: string | null;
    icon_url: string | null;
    is_public: boolean;
    invite_code: string | null;
    owner_id: string;
    member_count: number;
    inserted_at: Date;
    updated_at: Date;
  };
  nickname: string | null;
  banned: boolean;
  /** basePermissions of this context, precomputed. */
  permissions: number;
  /** groups.access_version when this was read (see access-cache.ts). */
  accessVersion: number;
}

/**
 * How group `g` finds its `@everyone` role (e), in the loaders and the channel list. The
 * flag is in the SQL, not a parameter: with `is_default = $n` a prepared statement's
 * generic plan cannot use roles_group_id_default_index, looks dearer than the custom plans,
 * and PostgreSQL plans every call (0.76 ms a channel access load instead of 0.17).
 */
export const EVERYONE_OF_GROUP = sql<SqlBool>`e.group_id = g.id AND e.is_default`;

// The group, @everyone (e) and the membership (gm, left-joined): both loaders select these.
export const ACCESS_COLUMNS = [
  'g.id',
  'g.name',
  'g.description',
  'g.icon_url',
  'g.is_public',
  'g.invite_code',
  'g.owner_id',
  'g.member_count',
  'g.inserted_at',
  'g.updated_at',
  'g.access_version',
  'e.id as everyone_id',
  'e.position as everyone_position',
  'e.permissions as everyone_permissions',
  'gm.id as member_id',
  'gm.nickname',
] as const;

/** The roles of member `gm` (not @everyone) as a JSON array of RoleGrant: the loaders' `roles` column. */
export const MEMBER_ROLES = sql<RoleGrant[]>`(
  SELECT coalesce(json_agg(json_build_object('id', r.id, 'position', r.position, 'permissions', r.permissions)), '[]'::json)
  FROM group_member_roles AS gmr JOIN roles AS r ON r.id = gmr.role_id
  WHERE gmr.group_member_id = gm.id
)`;

// Compile-once (db/prepared.ts): every group request starts with one of these loaders.
const groupAccessStatement = prepare((db, p: { groupId: string; userId: string }) =>
  db
    .selectFrom('groups as g')
    .innerJoin('roles as e', (join) => join.on(EVERYONE_OF_GROUP))
    .leftJoin('group_members as gm', (join) => join.onRef('gm.group_id', '=', 'g.id').on('gm.user_id', '=', p.userId))
    .select([
      ...ACCESS_COLUMNS,
      (eb) =>
        eb
          .exists(eb.selectFrom('group_bans as b').select('b.user_id').whereRef('b.group_id', '=', 'g.id').where('b.user_id', '=', p.userId))
          .as('banned'),
      MEMBER_ROLES.as('roles'),
    ])
    .where('g.id', '=', p.groupId),
);

/**
 * The group, the user's membership and roles, @everyone and whether the user is banned:
 * one statement. undefined when the group does not exist.
 */
export async function loadGroupAccess(db: Db, groupId: string, userId: string): Promise<GroupAccess | undefined> {
  const [row] = await groupAccessStatement(db, { groupId, userId });
  return row ? toAccess(row, userId) : undefined;
}

export type AccessRow = GroupAccess['group'] & {
  access_version: number;
  everyone_id: string;
  everyone_position: number;
  everyone_permissions: number;
  member_id: string | null;
  nickname: string | null;
  banned: boolean | 0 | 1 | null;
  roles: Array<{ id: string; position: number; permissions: number }>;
};

/** A GroupAccess from a row of ACCESS_COLUMNS, `banned` and the member's `roles`. */
export function toAccess(row: AccessRow, userId: string): GroupAccess {
  const context: MemberContext = {
    userId,
    groupId: row.id,
    ownerId: row.owner_id,
    memberId: row.member_id,
    everyone: { id: row.everyone_id, position: row.everyone_position, permissions: Number(row.everyone_permissions) },
    // jsonb numbers arrive as numbers; a bigint in jsonb is still a JSON number.
    roles: row.member_id ? row.roles.map((r) => ({ id: r.id, position: r.position, permissions: Number(r.permissions) })) : [],
  };
  return {
    ...context,
    group: {
      id: row.id,
      name: row.name,
      description: row.description,
      icon_url: row.icon_url,
      is_public: row.is_public,
      invite_code: row.invite_code,
      owner_id: row.owner_id,
      member_count: row.member_count,
      inserted_at: row.inserted_at,
      updated_at: row.updated_at,
    },
    nickname: row.nickname,
    banned: row.banned === true,
    permissions: basePermissions(context),
    accessVersion: row.access_version,
  };
}

export interface ChannelRow extends ChannelFacts {
  group_id: string;
  category_id: string | null;
  name: string;
  topic: string | null;
  position: number;
  last_message_seq: number;
  last_message_at: Date | null;
  inserted_at: Date;
  updated_at: Date;
}

export interface ChannelAccess {
  access: GroupAccess;
  channel: ChannelRow;
  /** The overwrites of this channel that apply to the user (@everyone's and their roles'). */
  overwrites: Overwrite[];
  /** channelPermissions, precomputed. */
  permissions: number;
}

const channelAccessStatement = prepare((db, p: { channelId: string; userId: string }) =>
  db
    .selectFrom('channels as c')
    .innerJoin('groups as g', 'g.id', 'c.group_id')
    .innerJoin('roles as e', (join) => join.on(EVERYONE_OF_GROUP))
    .leftJoin('group_members as gm', (join) => join.onRef('gm.group_id', '=', 'g.id').on('gm.user_id', '=', p.userId))
    .select([
      ...ACCESS_COLUMNS,
      sql<boolean>`false`.as('banned'),
      MEMBER_ROLES.as('roles'),
      'c.id as channel_id',
      'c.category_id',
      'c.name as channel_name',
      'c.type',
      'c.topic',
      'c.position',
      'c.is_private',
      'c.last_message_seq',
      'c.last_message_at',
      'c.inserted_at as channel_inserted_at',
      'c.updated_at as channel_updated_at',
      (eb) =>
        jsonArrayFrom(
          eb
            .selectFrom('channel_permission_overwrites as o')
            .select(['o.role_id', 'o.allow', 'o.deny'])
            .whereRef('o.channel_id', '=', 'c.id')
            .where((w) =>
              w.or([
                w('o.role_id', '=', w.ref('e.id')),
                w.exists(
                  w
                    .selectFrom('group_member_roles as mr')
                    .select('mr.role_id')
                    .whereRef('mr.group_member_id', '=', 'gm.id')
                    .whereRef('mr.role_id', '=', 'o.role_id'),
                ),
              ]),
            ),
        ).as('overwrites'),
    ])
    .where('c.id', '=', p.channelId),
);

/**
 * A channel with its group access and the overwrites that concern the user: one
 * statement (the group part is the same as loadGroupAccess). undefined when the channel
 * does not exist.
 */
export async function loadChannelAccess(db: Db, channelId: string, userId: string): Promise<ChannelAccess | undefined> {
  const [row] = await channelAccessStatement(db, { channelId, userId });
  if (!row) return undefined;
  const access = toAccess(row, userId);
  const channel: ChannelRow = {
    id: row.channel_id,
    group_id: row.id,
    category_id: row.category_id,
    name: row.channel_name,
    type: row.type,
    topic: row.topic,
    position: row.position,
    is_private: row.is_private,
    last_message_seq: row.last_message_seq,
    last_message_at: row.last_message_at,
    inserted_at: row.channel_inserted_at,
    updated_at: row.channel_updated_at,
  };
  const overwrites = row.overwrites.map((o) => ({ role_id: o.role_id, allow: Number(o.allow), deny: Number(o.deny) }));
  return { access, channel, overwrites, permissions: channelPermissions(access, channel, overwrites) };
}

/**
 * The gateway's question: may user U see channel C right now? Reads fresh state (one
 * statement), so a kick, a ban, a role removal or a new deny overwrite counts at once.
 */
export async function mayViewChannel(db: Db, userId: string, channelId: string): Promise<boolean> {
  const found = await loadChannelAccess(db, channelId, userId);
  return found !== undefined && has(found.permissions, Permission.VIEW_CHANNEL);
}

/** May user U see group G's member-only activity (member joined/left, group updated)? */
export async function mayViewGroup(db: Db, userId: string, groupId: string): Promise<boolean> {
  const row = await db
    .selectFrom('group_members')
    .select('id')
    .where('group_id', '=', groupId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}
