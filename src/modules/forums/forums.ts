// Forums themselves: creation (unique slug), settings (owner), moderators (appointed by
// the owner), members of private forums and flairs (moderators). Visibility is one rule,
// `forumAccess`: a public forum is visible to everyone; a private one only to its owner,
// moderators and members, and to everyone else it does not exist (404, never 403), so
// its slug never leaks. Every other forum operation starts from forumAccess.
import { sql } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { Db } from '../../db/database.ts';
import { decodeCursor, encodeCursor } from '../../db/pagination.ts';
import { AppError, NotFoundError, ValidationError, type FieldErrors } from '../../lib/errors.ts';
import { isUuid, newId } from '../../lib/ids.ts';

export const SLUG = /^[a-z0-9-]{2,50}$/;
const COLOR = /^#[0-9a-fA-F]{6}$/;

export interface ForumRow {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  icon_url: string | null;
  banner_url: string | null;
  is_public: boolean;
  owner_id: string;
  inserted_at: Date;
  updated_at: Date;
}

export interface ForumAccess {
  forum: ForumRow;
  isOwner: boolean;
  /** The owner counts as a moderator. */
  isModerator: boolean;
  isMember: boolean;
}

export interface UserSummary {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
}

export interface ForumView {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  icon_url: string | null;
  banner_url: string | null;
  is_public: boolean;
  owner_id: string;
  moderators: UserSummary[];
  viewer: { is_owner: boolean; is_moderator: boolean; is_member: boolean };
  inserted_at: string;
  updated_at: string;
}

export interface FlairView {
  id: string;
  name: string;
  color: string | null;
}

const FORUM_COLUMNS = [
  'f.id',
  'f.name',
  'f.slug',
  'f.description',
  'f.icon_url',
  'f.banner_url',
  'f.is_public',
  'f.owner_id',
  'f.inserted_at',
  'f.updated_at',
] as const;

/** EXISTS-subqueries telling what the viewer is in forum `f` (false for anonymous viewers). */
export function roleColumns(viewerId: string | null) {
  // NULL as a literal for signed-out viewers: a prepared statement's generic plan then
  // knows these are false (with a parameter it costs them per row and keeps re-planning).
  const viewer = viewerId === null ? sql`NULL::uuid` : sql`${viewerId}::uuid`;
  return [
    sql<boolean>`EXISTS (SELECT 1 FROM forum_moderators m WHERE m.forum_id = f.id AND m.user_id = ${viewer})`.as('is_moderator'),
    sql<boolean>`EXISTS (SELECT 1 FROM forum_members m WHERE m.forum_id = f.id AND m.user_id = ${viewer})`.as('is_member'),
  ] as const;
}

/**
 * The forum named by `key` as the viewer may see it, with the viewer's roles; a forum that
 * does not exist and a private one the viewer is not in are the same 404.
 */
export async function forumAccess(db: Db, key: { slug: string } | { id: string }, viewerId: string | null): Promise<ForumAccess> {
  if ('slug' in key && !SLUG.test(key.slug)) throw new NotFoundError('forum');
  const row = await db
    .selectFrom('forums as f')
    .select([...FORUM_COLUMNS, ...roleColumns(viewerId)])
    .$if('slug' in key, (q) => q.where('f.slug', '=', (key as { slug: string }).slug))
    .$if('id' in key, (q) => q.where('f.id', '=', (key as { id: string }).id))
    .executeTakeFirst();
  if (!row) throw new NotFoundError('forum');
  const { is_moderator, is_member, ...forum } = row;
  const isOwner = viewerId !== null && forum.owner_id === viewerId;
  const access = { forum, isOwner, isModerator: isOwner || is_moderator, isMember: is_member };
  if (!canSee(access)) throw new NotFoundError('forum');
  return access;
}

/**
 * The visibility rule as SQL on forum `f`, for statements that read a forum's content in
 * the same round trip as the forum (their callers still check canSee on the row).
 */
export function visibleTo(viewerId: string | null) {
  if (viewerId === null) return sql<boolean>`f.is_public`;
  return sql<boolean>`(f.is_public OR f.owner_id = ${viewerId}::uuid
    OR EXISTS (SELECT 1 FROM forum_moderators m WHERE m.forum_id = f.id AND m.user_id = ${viewerId}::uuid)
    OR EXISTS (SELECT 1 FROM forum_members m WHERE m.forum_id = f.id AND m.user_id = ${viewerId}::uuid))`;
}

export function canSee(access: Omit<ForumAccess, 'forum'> & { forum: Pick<ForumRow, 'is_public'> }): boolean {
  return access.forum.is_public || access.isModerator || access.isMember;
}

export function requireModerator(access: ForumAccess): void {
  if (!access.isModerator) throw new AppError('not_forum_moderator', 'only moderators of this forum may do that');
}

function requireOwner(access: ForumAccess): void {
  if (!access.isOwner) throw new AppError('not_forum_owner', 'only the owner of this forum may do that');
}

// -- views ------------------------------------------------------------------------------

function moderatorsOf(db: Db, forumId: string) {
  return db
    .selectFrom('forum_moderators as fm')
    .innerJoin('users as u', 'u.id', 'fm.user_id')
    .select(['u.id', 'u.username', 'u.display_name', 'u.avatar_url'])
    .where('fm.forum_id', '=', forumId)
    .orderBy('fm.inserted_at')
    .execute();
}

function toView(forum: ForumRow, moderators: UserSummary[], access: Omit<ForumAccess, 'forum'>): ForumView {
  return {
    id: forum.id,
    name: forum.name,
    slug: forum.slug,
    description: forum.description,
    icon_url: forum.icon_url,
    banner_url: forum.banner_url,
    is_public: forum.is_public,
    owner_id: forum.owner_id,
    moderators,
    viewer: { is_owner: access.isOwner, is_moderator: access.isModerator, is_member: access.isMember },
    inserted_at: forum.inserted_at.toISOString(),
    updated_at: forum.updated_at.toISOString(),
  };
}

export async function getForum(db: Db, viewerId: string | null, slug: string): Promise<ForumView> {
  const access = await forumAccess(db, { slug }, viewerId);
  return toView(access.forum, await moderatorsOf(db, access.forum.id), access);
}

/** Forums the viewer can see, newest first: the public ones and the private ones they are in. */
export async function listForums(
  db: Db,
  viewerId: string | null,
  opts: { limit: number; cursor?: string | undefined },
): Promise<{ data: ForumView[]; next_cursor: string | null }> {
  const [isModerator, isMember] = roleColumns(viewerId);
  let after: string | undefined;
  if (opts.cursor) {
    [after] = decodeCursor(opts.cursor, 1) as [string];
    if (!isUuid(after)) throw new AppError('invalid_cursor', 'the cursor is not valid for this list', 400);
  }
  const rows = await db
      .selectFrom('forums as f')
      .select([...FORUM_COLUMNS, isModerator, isMember])
      .select((eb) =>
        jsonArrayFrom(
          eb
            .selectFrom('forum_moderators as fm')
            .innerJoin('users as u', 'u.id', 'fm.user_id')
            .select(['u.id', 'u.username', 'u.display_name', 'u.avatar_url'])
            .whereRef('fm.forum_id', '=', 'f.id')
            .orderBy('fm.inserted_at'),
        ).as('moderators'),
      )
      .where((eb) =>
        viewerId === null
          ? eb('f.is_public', '=', true)
          : eb.or([
              eb('f.is_public', '=', true),
              eb('f.owner_id', '=', viewerId),
              sql<boolean>`EXISTS (SELECT 1 FROM forum_moderators m WHERE m.forum_id = f.id AND m.user_id = ${viewerId}::uuid)`,
              sql<boolean>`EXISTS (SELECT 1 FROM forum_members m WHERE m.forum_id = f.id AND m.user_id = ${viewerId}::uuid)`,
            ]),
      )
    .$if(after !== undefined, (q) => q.where('f.id', '<', after!))
    .orderBy('f.id', 'desc')
    .limit(opts.limit + 1)
    .execute();
  const page = rows.slice(0, opts.limit);
  return {
    next_cursor: rows.length > opts.limit ? encodeCursor([page.at(-1)!.id]) : null,
    data: page.map(({ is_moderator, is_member, moderators, ...forum }) => {
      const isOwner = forum.owner_id === viewerId;
      return toView(forum, moderators, { isOwner, isModerator: isOwner || is_moderator, isMember: is_member });
    }),
  };
}

// -- writes -----------------------------------------------------------------------------

export interface ForumInput {
  name?: string | undefined;
  slug?: string | undefined;
  description?: string | null | undefined;
  icon_url?: string | null | undefined;
  banner_url?: string | null | undefined;
  is_public?: boolean | undefined;
}

function checkUrl(fields: FieldErrors, field: string, value: string | null | undefined): void {
  if (value === null || value === undefined) return;
  if (value.length > 2048 || !isHttpUrl(value)) (fields[field] ??= []).push('must be an http(s) URL');
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && /^https?:\/\//.test(value);
  } catch {
    return false;
  }
}

function checkForum(input: ForumInput, creating: boolean): ForumInput {
  const fields: FieldErrors = {};
  const out: ForumInput = { ...input };
  if (input.name !== undefined || creating) {
    const name = (input.name ?? '').trim();
    if (name.length === 0) fields.name = ["can't be blank"];
    else if (name.length > 100) fields.name = ['should be at most 100 character(s)'];
    out.name = name;
  }
  if (creating && (input.slug === undefined || !SLUG.test(input.slug))) {
    fields.slug = ['must be 2 to 50 of lower-case letters, digits and hyphens'];
  }
  if (input.description !== undefined && input.description !== null) {
    const description = input.description.trim();
    if (description.length > 1000) fields.description = ['should be at most 1000 character(s)'];
    out.description = description.length ? description : null;
  }
  checkUrl(fields, 'icon_url', input.icon_url);
  checkUrl(fields, 'banner_url', input.banner_url);
  if (Object.keys(fields).length) throw new ValidationError(fields);
  return out;
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && e.constraint === constraint;
}

export async function createForum(db: Db, ownerId: string, input: ForumInput): Promise<ForumView> {
  const checked = checkForum(input, true);
  try {
    const forum = await db
      .insertInto('forums')
      .values({
        id: newId(),
        name: checked.name!,
        slug: checked.slug!,
        description: checked.description ?? null,
        icon_url: checked.icon_url ?? null,
        banner_url: checked.banner_url ?? null,
        is_public: checked.is_public ?? true,
        owner_id: ownerId,
      })
      .returning(['id', 'name', 'slug', 'description', 'icon_url', 'banner_url', 'is_public', 'owner_id', 'inserted_at', 'updated_at'])
      .executeTakeFirstOrThrow();
    return toView(forum, [], { isOwner: true, isModerator: true, isMember: false });
  } catch (error) {
    if (isUniqueViolation(error, 'forums_slug_index')) throw new ValidationError({ slug: ['has already been taken'] });
    throw error;
  }
}

export async function updateForum(db: Db, viewerId: string, slug: string, input: ForumInput): Promise<ForumView> {
  const access = await forumAccess(db, { slug }, viewerId);
  requireOwner(access);
  const checked = checkForum(input, false);
  const changes = Object.fromEntries(
    (['name', 'description', 'icon_url', 'banner_url', 'is_public'] as const)
      .filter((key) => checked[key] !== undefined)
      .map((key) => [key, checked[key]]),
  );
  if (Object.keys(changes).length) {
    await db
      .updateTable('forums')
      .set({ ...changes, updated_at: sql<Date>`now()` })
      .where('id', '=', access.forum.id)
      .execute();
  }
  return getForum(db, viewerId, slug);
}

async function requireUser(db: Db, userId: string): Promise<void> {
  const user = await db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  if (!user) throw new NotFoundError('user');
}

/** Owner only; idempotent. Moderators see the forum even when it is private. */
export async function addModerator(db: Db, viewerId: string, slug: string, userId: string): Promise<ForumView> {
  const access = await forumAccess(db, { slug }, viewerId);
  requireOwner(access);
  await requireUser(db, userId);
  await db
    .insertInto('forum_moderators')
    .values({ forum_id: access.forum.id, user_id: userId, added_by_id: viewerId })
    .onConflict((oc) => oc.columns(['forum_id', 'user_id']).doNothing())
    .execute();
  return getForum(db, viewerId, slug);
}

export async function removeModerator(db: Db, viewerId: string, slug: string, userId: string): Promise<void> {
  const access = await forumAccess(db, { slug }, viewerId);
  requireOwner(access);
  await db.deleteFrom('forum_moderators').where('forum_id', '=', access.forum.id).where('user_id', '=', userId).execute();
}

/** Moderators add members (who then see a private forum); idempotent. */
export async function addMember(db: Db, viewerId: string, slug: string, userId: string): Promise<void> {
  const access = await forumAccess(db, { slug }, viewerId);
  requireModerator(access);
  await requireUser(db, userId);
  await db
    .insertInto('forum_members')
    .values({ forum_id: access.forum.id, user_id: userId })
    .onConflict((oc) => oc.columns(['forum_id', 'user_id']).doNothing())
    .execute();
}

/** Moderators remove members; a member may leave on their own. */
export async function removeMember(db: Db, viewerId: string, slug: string, userId: string): Promise<void> {
  const access = await forumAccess(db, { slug }, viewerId);
  if (userId !== viewerId) requireModerator(access);
  await db.deleteFrom('forum_members').where('forum_id', '=', access.forum.id).where('user_id', '=', userId).execute();
}

// -- flairs -----------------------------------------------------------------------------

export async function listFlairs(db: Db, viewerId: string | null, slug: string): Promise<{ data: FlairView[] }> {
  const access = await forumAccess(db, { slug }, viewerId);
  const data = await db
    .selectFrom('forum_flairs')
    .select(['id', 'name', 'color'])
    .where('forum_id', '=', access.forum.id)
    .orderBy('name')
    .execute();
  return { data };
}

export async function createFlair(
  db: Db,
  viewerId: string,
  slug: string,
  input: { name: string; color?: string | null | undefined },
): Promise<FlairView> {
  const access = await forumAccess(db, { slug }, viewerId);
  requireModerator(access);
  const name = input.name.trim();
  const fields: FieldErrors = {};
  if (name.length === 0) fields.name = ["can't be blank"];
  else if (name.length > 64) fields.name = ['should be at most 64 character(s)'];
  if (input.color !== undefined && input.color !== null && !COLOR.test(input.color)) fields.color = ['must be a hex color such as #ff4500'];
  if (Object.keys(fields).length) throw new ValidationError(fields);
  try {
    return await db
      .insertInto('forum_flairs')
      .values({ id: newId(), forum_id: access.forum.id, name, color: input.color ?? null })
      .returning(['id', 'name', 'color'])
      .executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error, 'forum_flairs_forum_id_name_index')) throw new ValidationError({ name: ['has already been taken'] });
    throw error;
  }
}

/** Moderators only; posts that wore the flair keep no flair (the FK's SET NULL). */
export async function deleteFlair(db: Db, viewerId: string, slug: string, flairId: string): Promise<void> {
  const access = await forumAccess(db, { slug }, viewerId);
  requireModerator(access);
  const deleted = await db.deleteFrom('forum_flairs').where('forum_id', '=', access.forum.id).where('id', '=', flairId).executeTakeFirst();
  if (deleted.numDeletedRows === 0n) throw new NotFoundError('flair');
}
