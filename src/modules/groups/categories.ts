// Channel categories: named, positioned folders for a group's channels. Members see them
// all (a name and a position leak nothing a channel would); changing them takes
// MANAGE_CHANNELS. Deleting one leaves its channels uncategorised (ON DELETE SET NULL).
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { checkName, memberAccess, requirePermission } from './guards.ts';
import { Permission } from './permissions.ts';
import { MAX_POSITION } from './channels.ts';

export interface CategoryView {
  id: string;
  group_id: string;
  name: string;
  position: number;
  inserted_at: string;
}

const toView = (row: { id: string; group_id: string; name: string; position: number; inserted_at: Date }): CategoryView => ({
  id: row.id,
  group_id: row.group_id,
  name: row.name,
  position: row.position,
  inserted_at: row.inserted_at.toISOString(),
});

function checkPosition(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0 || value > MAX_POSITION) throw new ValidationError({ position: [`must be between 0 and ${MAX_POSITION}`] });
  return value;
}

export async function listCategories(db: Db, userId: string, groupId: string): Promise<CategoryView[]> {
  await memberAccess(db, groupId, userId);
  const rows = await db.selectFrom('channel_categories').selectAll().where('group_id', '=', groupId).orderBy('position').orderBy('id').execute();
  return rows.map(toView);
}

export async function createCategory(
  db: Db,
  events: EventBus,
  userId: string,
  groupId: string,
  input: { name: string; position?: number | undefined },
): Promise<CategoryView> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.MANAGE_CHANNELS);
  const name = checkName('name', input.name);
  const position = checkPosition(input.position);
  const row = await db
    .insertInto('channel_categories')
    .values({
      id: newId(),
      group_id: groupId,
      name,
      // Without a position: after the last category.
      position:
        position ??
        sql<number>`(SELECT least(coalesce(max(position) + 1, 0), ${MAX_POSITION}) FROM channel_categories WHERE group_id = ${groupId}::uuid)`,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  events.publish({ type: 'group.updated', groupId });
  return toView(row);
}

export async function updateCategory(
  db: Db,
  events: EventBus,
  userId: string,
  groupId: string,
  categoryId: string,
  input: { name?: string | undefined; position?: number | undefined },
): Promise<CategoryView> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.MANAGE_CHANNELS);
  const changes = {
    ...(input.name !== undefined ? { name: checkName('name', input.name) } : {}),
    ...(input.position !== undefined ? { position: checkPosition(input.position)! } : {}),
  };
  const row = await db
    .updateTable('channel_categories')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('group_id', '=', groupId)
    .where('id', '=', categoryId)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new NotFoundError('category');
  events.publish({ type: 'group.updated', groupId });
  return toView(row);
}

export async function deleteCategory(db: Db, events: EventBus, userId: string, groupId: string, categoryId: string): Promise<void> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.MANAGE_CHANNELS);
  const result = await db.deleteFrom('channel_categories').where('group_id', '=', groupId).where('id', '=', categoryId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('category');
  events.publish({ type: 'group.updated', groupId });
}
