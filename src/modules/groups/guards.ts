// The access checks every group service starts with, so the 404/403 rule is applied the
// same way everywhere: what the caller may not see does not exist (404); what they see but
// may not do is 403 with a stable code.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import {
  canGrant,
  canManageRoleAt,
  has,
  loadChannelAccess,
  loadGroupAccess,
  Permission,
  permissionNames,
  type ChannelAccess,
  type GroupAccess,
  type MemberContext,
} from './permissions.ts';

/** The caller's access to a group they belong to; 404 for everyone else. */
export async function memberAccess(db: Db, groupId: string, userId: string): Promise<GroupAccess> {
  const access = await loadGroupAccess(db, groupId, userId);
  if (!access?.memberId) throw new NotFoundError('group');
  return access;
}

/** A channel the caller may view (VIEW_CHANNEL after overwrites); 404 otherwise. */
export async function viewableChannel(db: Db, channelId: string, userId: string): Promise<ChannelAccess> {
  const found = await loadChannelAccess(db, channelId, userId);
  if (!found || !has(found.permissions, Permission.VIEW_CHANNEL)) throw new NotFoundError('channel');
  return found;
}

/** A channel the caller may view and that carries text; voice channels have no messages (422). */
export async function textChannel(db: Db, channelId: string, userId: string): Promise<ChannelAccess> {
  const found = await viewableChannel(db, channelId, userId);
  if (found.channel.type === 'voice') throw new AppError('channel_not_text', 'voice channels carry no messages', 422);
  return found;
}

export function requirePermission(permissions: number, bit: number): void {
  if (!has(permissions, bit)) {
    throw new AppError('missing_permission', `this needs the ${permissionNames(bit).join(', ')} permission`, 403);
  }
}

export function requireRoleBelow(actor: MemberContext, position: number): void {
  if (!canManageRoleAt(actor, position)) {
    throw new AppError('role_hierarchy', 'that role is at or above your highest role', 403);
  }
}

export function requireGrantable(actor: MemberContext, permissions: number): void {
  if (!canGrant(actor, permissions)) {
    throw new AppError('missing_permission', 'you cannot grant permissions you do not have yourself', 403);
  }
}

export function requireOwner(access: GroupAccess): void {
  if (access.userId !== access.ownerId) throw new AppError('not_group_owner', 'only the group owner may do this', 403);
}

/** Trims a required name: 1 to `max` characters. */
export function checkName(field: string, value: string, max = 100): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) throw new ValidationError({ [field]: ["can't be blank"] });
  if (trimmed.length > max) throw new ValidationError({ [field]: [`should be at most ${max} character(s)`] });
  return trimmed;
}

/** Trims an optional text: null or blank clears it. */
export function checkOptionalText(field: string, value: string | null | undefined, max: number): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  const trimmed = value.trim();
  if (trimmed.length === 0) return null;
  if (trimmed.length > max) throw new ValidationError({ [field]: [`should be at most ${max} character(s)`] });
  return trimmed;
}

/** A permission bitfield given by a client: an integer of known bits only. */
export function checkBits(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || (value & ~ALL_BITS) !== 0 || value > ALL_BITS) {
    throw new ValidationError({ [field]: [`must be a bitfield of the permission bits (0 to ${ALL_BITS})`] });
  }
  return value;
}

const ALL_BITS = Object.values(Permission).reduce((all, bit) => all | bit, 0);

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

export function isForeignKeyViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23503' && (constraint === undefined || e.constraint === constraint);
}

/**
 * Serialises a join and a ban of the same user in the same group: a ban cannot slip in
 * between a join's ban check and its insert (transaction-scoped advisory lock).
 */
export async function lockMembership(trx: Db, groupId: string, userId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`group-member:${groupId}:${userId}`}, 0))`.execute(trx);
}
