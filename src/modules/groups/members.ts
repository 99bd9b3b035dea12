// Members of a group: the list, nicknames and role assignment, leaving, kicks and bans.
// Acting on another member follows the hierarchy (permissions.ts outranks): nobody acts on
// the owner or on someone whose highest role is at or above their own.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { keysetPage } from '../../db/pagination.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { checkOptionalText, lockMembership, memberAccess, requirePermission, requireRoleBelow } from './guards.ts';
import { loadGroupAccess, outranks, Permission, type GroupAccess } from './permissions.ts';

export const NICKNAME_MAX = 32;

export interface MemberView {
  user: { id: string; username: string; display_name: string | null; avatar_url: string | null };
  group_id: string;
  nickname: string | null;
  role_ids: string[];
  is_owner: boolean;
  joined_at: string;
}

function membersQuery(db: Db, groupId: string) {
  return db
    .selectFrom('group_members')
    .innerJoin('users', 'users.id', 'group_members.user_id')
    .innerJoin('groups', 'groups.id', 'group_members.group_id')
    .select([
      'group_members.id',
      'group_members.group_id',
      'group_members.nickname',
      'group_members.joined_at',
      'groups.owner_id',
      'users.id as user_id',
      'users.username',
      'users.display_name',
      'users.avatar_url',
      sql<string[]>`ARRAY(
        SELECT mr.role_id::text FROM group_member_roles AS mr WHERE mr.group_member_id = group_members.id ORDER BY mr.role_id
      )`.as('role_ids'),
    ])
    .where('group_members.group_id', '=', groupId);
}

type MemberRow = Awaited<ReturnType<ReturnType<typeof membersQuery>['executeTakeFirstOrThrow']>>;

function toView(row: MemberRow): MemberView {
  return {
    user: { id: row.user_id, username: row.username, display_name: row.display_name, avatar_url: row.avatar_url },
    group_id: row.group_id,
    nickname: row.nickname,
    role_ids: row.role_ids,
    is_owner: row.owner_id === row.user_id,
    joined_at: row.joined_at.toISOString(),
  };
}

/** One member (any caller: services use it after checking access). */
export async function memberView(db: Db, groupId: string, userId: string): Promise<MemberView> {
  const row = await membersQuery(db, groupId).where('group_members.user_id', '=', userId).executeTakeFirst();
  if (!row) throw new NotFoundError('member');
  return toView(row);
}

/** Members only; keyset-paged in join order (member ids are UUIDv7). */
export async function listMembers(db: Db, userId: string, groupId: string, opts: { cursor?: string | undefined; limit: number }) {
  await memberAccess(db, groupId, userId);
  const page = await keysetPage(membersQuery(db, groupId), {
    id: 'group_members.id',
    direction: 'asc',
    limit: opts.limit,
    cursor: opts.cursor,
  });
  return { data: page.data.map(toView), next_cursor: page.next_cursor };
}

/** The target's membership context; 404 when they are not a member. */
async function targetAccess(db: Db, groupId: string, userId: string): Promise<GroupAccess> {
  const target = await loadGroupAccess(db, groupId, userId);
  if (!target?.memberId) throw new NotFoundError('member');
  return target;
}

const hierarchyError = () => new AppError('role_hierarchy', "that member's highest role is at or above yours", 403);

export interface UpdateMemberInput {
  nickname?: string | null | undefined;
  role_ids?: string[] | undefined;
}

/**
 * Nickname: one's own freely; someone else's with MANAGE_GROUP and a higher rank.
 * role_ids replaces the member's roles (MANAGE_ROLES); every role added or removed must be
 * strictly below the caller's highest role, and @everyone is implicit (not assignable).
 */
export async function updateMember(
  db: Db,
  events: EventBus,
  actorId: string,
  groupId: string,
  targetId: string,
  input: UpdateMemberInput,
): Promise<MemberView> {
  const actor = await memberAccess(db, groupId, actorId);
  const target = targetId === actorId ? actor : await targetAccess(db, groupId, targetId);
  const nickname = checkOptionalText('nickname', input.nickname, NICKNAME_MAX);
  if (nickname !== undefined && targetId !== actorId) {
    requirePermission(actor.permissions, Permission.MANAGE_GROUP);
    if (!outranks(actor, target)) throw hierarchyError();
  }
  let added: string[] = [];
  let removed: string[] = [];
  if (input.role_ids !== undefined) {
    requirePermission(actor.permissions, Permission.MANAGE_ROLES);
    const wanted = [...new Set(input.role_ids)];
    const roles = wanted.length
      ? await db.selectFrom('roles').select(['id', 'position', 'is_default']).where('group_id', '=', groupId).where('id', 'in', wanted).execute()
      : [];
    if (roles.length !== wanted.length || roles.some((role) => role.is_default)) {
      throw new ValidationError({ role_ids: ['must be roles of this group other than @everyone'] });
    }
    const current = new Set(target.roles.map((role) => role.id));
    added = wanted.filter((id) => !current.has(id));
    removed = [...current].filter((id) => !wanted.includes(id));
    const positions = new Map([...roles, ...target.roles].map((role) => [role.id, role.position]));
    for (const id of [...added, ...removed]) requireRoleBelow(actor, positions.get(id)!);
  }
  if (nickname === undefined && added.length === 0 && removed.length === 0) return memberView(db, groupId, targetId);
  const memberId = target.memberId!;
  const outcome = await transaction(db, async (trx, ctx) => {
    if (nickname !== undefined) {
      await trx.updateTable('group_members').set({ nickname, updated_at: sql<Date>`now()` }).where('id', '=', memberId).execute();
    }
    if (removed.length) {
      await trx.deleteFrom('group_member_roles').where('group_member_id', '=', memberId).where('role_id', 'in', removed).execute();
    }
    if (added.length) {
      await trx
        .insertInto('group_member_roles')
        .values(added.map((roleId) => ({ group_id: groupId, group_member_id: memberId, role_id: roleId })))
        .onConflict((oc) => oc.columns(['group_member_id', 'role_id']).doNothing())
        .execute();
    }
    ctx.afterCommit(() => events.publish({ type: 'member.updated', groupId, userId: targetId }));
    return null;
  });
  if (!outcome.ok) throw new Error('unreachable');
  return memberView(db, groupId, targetId);
}

/**
 * DELETE /groups/:id/members/:user_id: leaving when it is the caller (not the owner:
 * transfer or delete first), else a kick (KICK_MEMBERS and a higher rank).
 */
export async function removeMember(db: Db, events: EventBus, actorId: string, groupId: string, targetId: string): Promise<void> {
  const actor = await memberAccess(db, groupId, actorId);
  let reason: 'left' | 'kicked' = 'left';
  if (targetId === actorId) {
    if (actor.ownerId === actorId) {
      throw new AppError('owner_cannot_leave', 'the owner cannot leave: transfer ownership or delete the group', 409);
    }
  } else {
    requirePermission(actor.permissions, Permission.KICK_MEMBERS);
    const target = await targetAccess(db, groupId, targetId);
    if (!outranks(actor, target)) throw hierarchyError();
    reason = 'kicked';
  }
  const result = await db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', targetId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('member');
  events.publish({ type: 'member.left', groupId, userId: targetId, reason });
}

/**
 * BAN_MEMBERS: records the ban and removes the membership, in one transaction. A member
 * must rank below the caller; a non-member (say a troll who left) can be banned ahead.
 * Banning again updates the reason.
 */
export async function banMember(
  db: Db,
  events: EventBus,
  actorId: string,
  groupId: string,
  targetId: string,
  reason: string | null | undefined,
): Promise<void> {
  const actor = await memberAccess(db, groupId, actorId);
  requirePermission(actor.permissions, Permission.BAN_MEMBERS);
  if (targetId === actorId) throw new ValidationError({ user_id: ['you cannot ban yourself'] });
  const target = await loadGroupAccess(db, groupId, targetId);
  if (target?.memberId && !outranks(actor, target)) throw hierarchyError();
  const exists = await db.selectFrom('users').select('id').where('id', '=', targetId).executeTakeFirst();
  if (!exists) throw new NotFoundError('user');
  const why = checkOptionalText('reason', reason, 512) ?? null;
  const outcome = await transaction(db, async (trx, ctx) => {
    await lockMembership(trx, groupId, targetId);
    await trx
      .insertInto('group_bans')
      .values({ group_id: groupId, user_id: targetId, banned_by_id: actorId, reason: why })
      .onConflict((oc) => oc.columns(['group_id', 'user_id']).doUpdateSet({ reason: why, banned_by_id: actorId }))
      .execute();
    const removed = await trx
      .deleteFrom('group_members')
      .where('group_id', '=', groupId)
      .where('user_id', '=', targetId)
      // The owner can never be removed, even if ownership moved since the check above.
      .where('user_id', '<>', sql<string>`(SELECT owner_id FROM groups WHERE id = ${groupId}::uuid)`)
      .executeTakeFirst();
    if (removed.numDeletedRows > 0n) {
      ctx.afterCommit(() => events.publish({ type: 'member.left', groupId, userId: targetId, reason: 'banned' }));
    }
    return null;
  });
  if (!outcome.ok) throw new Error('unreachable');
}

/** BAN_MEMBERS; 404 when the user is not banned. */
export async function unbanMember(db: Db, actorId: string, groupId: string, targetId: string): Promise<void> {
  const actor = await memberAccess(db, groupId, actorId);
  requirePermission(actor.permissions, Permission.BAN_MEMBERS);
  const result = await db.deleteFrom('group_bans').where('group_id', '=', groupId).where('user_id', '=', targetId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('ban');
}

/** BAN_MEMBERS: the group's bans, newest last (keyset on user id is enough for moderation lists). */
export async function listBans(db: Db, actorId: string, groupId: string, opts: { cursor?: string | undefined; limit: number }) {
  const actor = await memberAccess(db, groupId, actorId);
  requirePermission(actor.permissions, Permission.BAN_MEMBERS);
  const page = await keysetPage(
    db
      .selectFrom('group_bans')
      .innerJoin('users', 'users.id', 'group_bans.user_id')
      .select([
        'group_bans.user_id',
        'users.username',
        'group_bans.reason',
        'group_bans.banned_by_id',
        'group_bans.inserted_at',
      ])
      .where('group_bans.group_id', '=', groupId),
    { id: 'group_bans.user_id', direction: 'asc', limit: opts.limit, cursor: opts.cursor },
  );
  return {
    data: page.data.map((row) => ({
      user_id: row.user_id,
      username: row.username,
      reason: row.reason,
      banned_by_id: row.banned_by_id,
      inserted_at: row.inserted_at.toISOString(),
    })),
    next_cursor: page.next_cursor,
  };
}
