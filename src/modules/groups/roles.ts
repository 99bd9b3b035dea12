// Roles: the list (members), create, edit, delete (MANAGE_ROLES). The hierarchy holds
// throughout: a role is created, edited, moved or deleted only strictly below the caller's
// highest role, and carries only bits the caller holds (unless owner or administrator).
// @everyone (is_default, position 0) keeps its name and place and cannot be deleted; its
// permissions and color can be edited like any role's.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { checkBits, checkName, memberAccess, requireGrantable, requirePermission, requireRoleBelow } from './guards.ts';
import { Permission } from './permissions.ts';

/** Roles per group, @everyone included (Discord's limit). */
export const MAX_ROLES = 250;
export const MAX_ROLE_POSITION = 100_000;

export interface RoleView {
  id: string;
  group_id: string;
  name: string;
  color: string | null;
  position: number;
  permissions: number;
  is_default: boolean;
  inserted_at: string;
  updated_at: string;
}

interface RoleRow {
  id: string;
  group_id: string;
  name: string;
  color: string | null;
  position: number;
  permissions: number;
  is_default: boolean;
  inserted_at: Date;
  updated_at: Date;
}

const toView = (row: RoleRow): RoleView => ({
  id: row.id,
  group_id: row.group_id,
  name: row.name,
  color: row.color,
  position: row.position,
  permissions: Number(row.permissions),
  is_default: row.is_default,
  inserted_at: row.inserted_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

function checkColor(value: string | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  if (!/^#[0-9a-fA-F]{6}$/.test(value)) throw new ValidationError({ color: ['must be #rrggbb'] });
  return value.toLowerCase();
}

function checkPosition(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > MAX_ROLE_POSITION) {
    throw new ValidationError({ position: [`must be between 1 and ${MAX_ROLE_POSITION} (0 is @everyone's)`] });
  }
  return value;
}

/** Members: highest first, @everyone last. */
export async function listRoles(db: Db, userId: string, groupId: string): Promise<RoleView[]> {
  await memberAccess(db, groupId, userId);
  const rows = await db.selectFrom('roles').selectAll().where('group_id', '=', groupId).orderBy('position', 'desc').orderBy('id').execute();
  return rows.map(toView);
}

export interface RoleInput {
  name?: string | undefined;
  color?: string | null | undefined;
  permissions?: number | undefined;
  position?: number | undefined;
}

export async function createRole(db: Db, events: EventBus, userId: string, groupId: string, input: RoleInput): Promise<RoleView> {
  const actor = await memberAccess(db, groupId, userId);
  requirePermission(actor.permissions, Permission.MANAGE_ROLES);
  const name = checkName('name', input.name ?? '');
  const color = checkColor(input.color) ?? null;
  const permissions = checkBits('permissions', input.permissions ?? 0);
  const position = checkPosition(input.position) ?? 1;
  requireRoleBelow(actor, position);
  requireGrantable(actor, permissions);
  const outcome = await transaction(db, async (trx, ctx) => {
    // The group row lock serialises role creation, so the cap holds under concurrency.
    await trx.selectFrom('groups').select('id').where('id', '=', groupId).forUpdate().executeTakeFirstOrThrow();
    const { count } = await trx
      .selectFrom('roles')
      .select(sql<number>`count(*)::int`.as('count'))
      .where('group_id', '=', groupId)
      .executeTakeFirstOrThrow();
    if (count >= MAX_ROLES) throw new AppError('conflict', `a group has at most ${MAX_ROLES} roles`, 409);
    const row = await trx
      .insertInto('roles')
      .values({ id: newId(), group_id: groupId, name, color, permissions, position })
      .returningAll()
      .executeTakeFirstOrThrow();
    ctx.afterCommit(() => events.publish({ type: 'role.updated', groupId, roleId: row.id, change: 'created' }));
    return row;
  });
  if (!outcome.ok) throw new Error('unreachable');
  return toView(outcome.value);
}

async function findRole(db: Db, groupId: string, roleId: string): Promise<RoleRow> {
  const row = await db.selectFrom('roles').selectAll().where('group_id', '=', groupId).where('id', '=', roleId).executeTakeFirst();
  if (!row) throw new NotFoundError('role');
  return row;
}

export async function updateRole(
  db: Db,
  events: EventBus,
  userId: string,
  groupId: string,
  roleId: string,
  input: RoleInput,
): Promise<RoleView> {
  const actor = await memberAccess(db, groupId, userId);
  requirePermission(actor.permissions, Permission.MANAGE_ROLES);
  const role = await findRole(db, groupId, roleId);
  requireRoleBelow(actor, role.position);
  if (role.is_default && (input.name !== undefined || input.position !== undefined)) {
    throw new AppError('default_role', '@everyone keeps its name and position', 422);
  }
  const changes: { name?: string; color?: string | null; permissions?: number; position?: number } = {};
  if (input.name !== undefined) changes.name = checkName('name', input.name);
  if (input.color !== undefined) changes.color = checkColor(input.color) ?? null;
  if (input.permissions !== undefined) {
    changes.permissions = checkBits('permissions', input.permissions);
    // Only the bits being added must be the caller's: keeping bits one lacks is fine.
    requireGrantable(actor, changes.permissions & ~Number(role.permissions));
  }
  if (input.position !== undefined) {
    changes.position = checkPosition(input.position)!;
    requireRoleBelow(actor, changes.position);
  }
  if (Object.keys(changes).length === 0) return toView(role);
  const row = await db
    .updateTable('roles')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('group_id', '=', groupId)
    .where('id', '=', roleId)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new NotFoundError('role');
  events.publish({ type: 'role.updated', groupId, roleId, change: 'updated' });
  return toView(row);
}

/** Deleting a role removes it from its members and its channel overwrites (cascades). */
export async function deleteRole(db: Db, events: EventBus, userId: string, groupId: string, roleId: string): Promise<void> {
  const actor = await memberAccess(db, groupId, userId);
  requirePermission(actor.permissions, Permission.MANAGE_ROLES);
  const role = await findRole(db, groupId, roleId);
  if (role.is_default) throw new AppError('default_role', '@everyone cannot be deleted', 422);
  requireRoleBelow(actor, role.position);
  const result = await db.deleteFrom('roles').where('group_id', '=', groupId).where('id', '=', roleId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('role');
  events.publish({ type: 'role.updated', groupId, roleId, change: 'deleted' });
}
