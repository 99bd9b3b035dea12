// Posts: text (Markdown), link, image (the URL of an uploaded attachment or any image
// URL) and poll (2–10 options, optional close time). Authors create, edit and delete
// their posts; moderators pin, lock and delete. A deleted post stays as a tombstone
// (title kept, content, URL and author hidden) so its comment thread survives; it leaves
// the listings. Events are published after commit.
import { sql } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { Db } from '../../db/database.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError, type FieldErrors } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { canSee, forumAccess, isHttpUrl, requireModerator, roleColumns, type FlairView, type ForumAccess, type UserSummary } from './forums.ts';
import { notifyForumActivity } from './mentions.ts';

export const POST_TYPES = ['text', 'link', 'image', 'poll'] as const;
export type PostType = (typeof POST_TYPES)[number];
export const TITLE_MAX = 300;
export const POST_CONTENT_MAX = 40000;
export const POLL_OPTIONS_MIN = 2;
export const POLL_OPTIONS_MAX = 10;
export const POLL_LABEL_MAX = 200;

export interface PollView {
  closes_at: string | null;
  closed: boolean;
  options: Array<{ id: string; label: string; position: number; vote_count: number }>;
  /** The option the viewer voted for. */
  my_vote: string | null;
}

export interface PostView {
  id: string;
  forum_id: string;
  author: UserSummary | null;
  flair: FlairView | null;
  title: string;
  type: PostType;
  content: string | null;
  url: string | null;
  score: number;
  upvotes: number;
  downvotes: number;
  comment_count: number;
  hot: number;
  is_pinned: boolean;
  is_locked: boolean;
  deleted: boolean;
  poll: PollView | null;
  /** The viewer's vote: 1, -1, or 0 for none. */
  my_vote: number;
  edited_at: string | null;
  deleted_at: string | null;
  inserted_at: string;
  updated_at: string;
}

/**
 * Posts with everything a view shows, in one statement: author, flair, the viewer's vote,
 * poll options and the viewer's poll vote. Callers add the WHERE and ORDER BY.
 */
export function postsWithDetails(db: Db, viewerId: string | null) {
  // A literal NULL for signed-out viewers (see roleColumns in forums.ts).
  const viewer = viewerId === null ? sql<string>`NULL::uuid` : sql<string>`${viewerId}::uuid`;
  return db
    .selectFrom('forum_posts as p')
    .leftJoin('users as u', 'u.id', 'p.author_id')
    .leftJoin('forum_flairs as fl', 'fl.id', 'p.flair_id')
    .select([
      'p.id',
      'p.forum_id',
      'p.title',
      'p.type',
      'p.content',
      'p.url',
      'p.score',
      'p.upvotes',
      'p.downvotes',
      'p.comment_count',
      'p.hot',
      'p.is_pinned',
      'p.is_locked',
      'p.poll_closes_at',
      'p.edited_at',
      'p.deleted_at',
      'p.inserted_at',
      'p.updated_at',
      'p.author_id',
      'u.username as author_username',
      'u.display_name as author_display_name',
      'u.avatar_url as author_avatar_url',
      'fl.id as flair_id',
      'fl.name as flair_name',
      'fl.color as flair_color',
      sql<number | null>`(SELECT v.value FROM forum_votes v WHERE v.post_id = p.id AND v.user_id = ${viewer})`.as('my_vote'),
      sql<string | null>`(SELECT pv.option_id FROM poll_votes pv WHERE pv.post_id = p.id AND pv.user_id = ${viewer})`.as('my_poll_vote'),
    ])
    .select((eb) =>
      jsonArrayFrom(
        eb
          .selectFrom('poll_options as o')
          .select(['o.id', 'o.label', 'o.position', 'o.vote_count'])
          .whereRef('o.post_id', '=', 'p.id')
          .orderBy('o.position'),
      ).as('options'),
    );
}

export type PostRow = Awaited<ReturnType<ReturnType<typeof postsWithDetails>['executeTakeFirstOrThrow']>>;

export function toPostView(row: PostRow, now = new Date()): PostView {
  const deleted = row.deleted_at !== null;
  return {
    id: row.id,
    forum_id: row.forum_id,
    author:
      !deleted && row.author_id !== null && row.author_username !== null
        ? { id: row.author_id, username: row.author_username, display_name: row.author_display_name, avatar_url: row.author_avatar_url }
        : null,
    flair: row.flair_id !== null && row.flair_name !== null ? { id: row.flair_id, name: row.flair_name, color: row.flair_color } : null,
    title: row.title,
    type: row.type,
    content: deleted ? null : row.content,
    url: deleted ? null : row.url,
    score: row.score,
    upvotes: row.upvotes,
    downvotes: row.downvotes,
    comment_count: row.comment_count,
    hot: row.hot,
    is_pinned: row.is_pinned,
    is_locked: row.is_locked,
    deleted,
    poll:
      row.type === 'poll'
        ? {
            closes_at: row.poll_closes_at?.toISOString() ?? null,
            closed: row.poll_closes_at !== null && row.poll_closes_at <= now,
            options: row.options,
            my_vote: row.my_poll_vote,
          }
        : null,
    my_vote: row.my_vote ?? 0,
    edited_at: row.edited_at?.toISOString() ?? null,
    deleted_at: row.deleted_at?.toISOString() ?? null,
    inserted_at: row.inserted_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** A post and the viewer's access to its forum; 404 when either is not visible. */
export async function postAccess(db: Db, viewerId: string | null, postId: string): Promise<{ access: ForumAccess; post: PostRow }> {
  const post = await postsWithDetails(db, viewerId).where('p.id', '=', postId).executeTakeFirst();
  if (!post) throw new NotFoundError('post');
  try {
    return { access: await forumAccess(db, { id: post.forum_id }, viewerId), post };
  } catch (error) {
    if (error instanceof NotFoundError) throw new NotFoundError('post');
    throw error;
  }
}

/**
 * Whether the viewer may see a post (its forum is visible to them), with what writes to it
 * check: one statement, without the post's details (votes need nothing more). 404 when the
 * post does not exist or its forum is hidden from the viewer.
 */
export async function postGate(db: Db, viewerId: string | null, postId: string): Promise<{ forumId: string; deleted: boolean; isLocked: boolean }> {
  const [isModerator, isMember] = roleColumns(viewerId);
  const row = await db
    .selectFrom('forum_posts as p')
    .innerJoin('forums as f', 'f.id', 'p.forum_id')
    .select(['p.forum_id', 'p.deleted_at', 'p.is_locked', 'f.is_public', 'f.owner_id', isModerator, isMember])
    .where('p.id', '=', postId)
    .executeTakeFirst();
  const isOwner = viewerId !== null && row?.owner_id === viewerId;
  if (!row || !canSee({ forum: { is_public: row.is_public }, isOwner, isModerator: isOwner || row.is_moderator, isMember: row.is_member })) {
    throw new NotFoundError('post');
  }
  return { forumId: row.forum_id, deleted: row.deleted_at !== null, isLocked: row.is_locked };
}

export async function getPost(db: Db, viewerId: string | null, postId: string): Promise<PostView> {
  return toPostView((await postAccess(db, viewerId, postId)).post);
}

// -- validation -------------------------------------------------------------------------

export interface CreatePostInput {
  title: string;
  type: PostType;
  content?: string | null | undefined;
  url?: string | null | undefined;
  flair_id?: string | null | undefined;
  poll_options?: string[] | undefined;
  poll_closes_at?: string | null | undefined;
}

function push(fields: FieldErrors, field: string, problem: string): void {
  (fields[field] ??= []).push(problem);
}

function checkTitle(fields: FieldErrors, title: string): string {
  const trimmed = title.trim();
  if (trimmed.length === 0) push(fields, 'title', "can't be blank");
  else if (trimmed.length > TITLE_MAX) push(fields, 'title', `should be at most ${TITLE_MAX} character(s)`);
  return trimmed;
}

function checkContent(fields: FieldErrors, content: string | null | undefined): string | null {
  if (content === undefined || content === null) return null;
  const trimmed = content.trim();
  if (trimmed.length > POST_CONTENT_MAX) push(fields, 'content', `should be at most ${POST_CONTENT_MAX} character(s)`);
  return trimmed.length ? trimmed : null;
}

function checkPostUrl(fields: FieldErrors, type: PostType, url: string | null | undefined): string | null {
  if (type === 'link' || type === 'image') {
    if (url === undefined || url === null || url.length === 0) push(fields, 'url', "can't be blank");
    else if (url.length > 2048 || !isHttpUrl(url)) push(fields, 'url', 'must be an http(s) URL');
    return url ?? null;
  }
  if (url !== undefined && url !== null) push(fields, 'url', `is not allowed on ${type} posts`);
  return null;
}

function checkPoll(fields: FieldErrors, input: CreatePostInput, now: Date): { labels: string[]; closesAt: Date | null } {
  if (input.type !== 'poll') {
    if (input.poll_options !== undefined) push(fields, 'poll_options', 'are only allowed on poll posts');
    if (input.poll_closes_at !== undefined && input.poll_closes_at !== null) push(fields, 'poll_closes_at', 'is only allowed on poll posts');
    return { labels: [], closesAt: null };
  }
  const labels = (input.poll_options ?? []).map((label) => label.trim());
  if (labels.length < POLL_OPTIONS_MIN || labels.length > POLL_OPTIONS_MAX) {
    push(fields, 'poll_options', `should have ${POLL_OPTIONS_MIN} to ${POLL_OPTIONS_MAX} options`);
  } else if (labels.some((label) => label.length === 0 || label.length > POLL_LABEL_MAX)) {
    push(fields, 'poll_options', `each option should have 1 to ${POLL_LABEL_MAX} character(s)`);
  } else if (new Set(labels.map((label) => label.toLowerCase())).size !== labels.length) {
    push(fields, 'poll_options', 'should be different from each other');
  }
  let closesAt: Date | null = null;
  if (input.poll_closes_at !== undefined && input.poll_closes_at !== null) {
    closesAt = new Date(input.poll_closes_at);
    if (Number.isNaN(closesAt.getTime())) push(fields, 'poll_closes_at', 'is invalid');
    else if (closesAt <= now) push(fields, 'poll_closes_at', 'must be in the future');
  }
  return { labels, closesAt };
}

function requireFlairOf(fields: FieldErrors, flair: { id: string } | undefined, flairId: string | null | undefined): void {
  if (flairId !== undefined && flairId !== null && !flair) push(fields, 'flair_id', 'is not a flair of this forum');
}

async function findFlair(db: Db, forumId: string, flairId: string | null | undefined) {
  if (flairId === undefined || flairId === null) return undefined;
  return db.selectFrom('forum_flairs').select('id').where('forum_id', '=', forumId).where('id', '=', flairId).executeTakeFirst();
}

// -- writes -----------------------------------------------------------------------------

export async function createPost(db: Db, events: EventBus, authorId: string, slug: string, input: CreatePostInput): Promise<PostView> {
  const access = await forumAccess(db, { slug }, authorId);
  const now = new Date();
  const fields: FieldErrors = {};
  const title = checkTitle(fields, input.title);
  const content = checkContent(fields, input.content);
  const url = checkPostUrl(fields, input.type, input.url);
  const poll = checkPoll(fields, input, now);
  requireFlairOf(fields, await findFlair(db, access.forum.id, input.flair_id), input.flair_id);
  if (Object.keys(fields).length) throw new ValidationError(fields);

  const forum = access.forum;
  const outcome = await transaction(db, async (trx, ctx) => {
    const post = await trx
      .insertInto('forum_posts')
      .values({
        id: newId(),
        forum_id: forum.id,
        author_id: authorId,
        flair_id: input.flair_id ?? null,
        title,
        content,
        url,
        type: input.type,
        poll_closes_at: poll.closesAt,
      })
      .returning(['id'])
      .executeTakeFirstOrThrow();
    if (poll.labels.length) {
      await trx
        .insertInto('poll_options')
        .values(poll.labels.map((label, position) => ({ id: newId(), post_id: post.id, position, label })))
        .execute();
    }
    await notifyForumActivity(trx, { ctx, events }, {
      forum,
      actorId: authorId,
      text: `${title}\n${content ?? ''}`,
      replyToUserId: null,
      data: { forum_id: forum.id, post_id: post.id },
    });
    ctx.afterCommit(() => events.publish({ type: 'forum_post.created', forumId: forum.id, postId: post.id, authorId }));
    return post.id;
  });
  if (!outcome.ok) throw new Error('createPost: unexpected failure');
  return getPost(db, authorId, outcome.value);
}

export interface UpdatePostInput {
  title?: string | undefined;
  content?: string | null | undefined;
  url?: string | null | undefined;
  flair_id?: string | null | undefined;
  is_pinned?: boolean | undefined;
  is_locked?: boolean | undefined;
}

/**
 * Title, content, URL and flair by the author; is_pinned and is_locked by moderators. A
 * body mixing both needs both rights. A deleted post cannot be edited (404).
 */
export async function updatePost(db: Db, events: EventBus, viewerId: string, postId: string, input: UpdatePostInput): Promise<PostView> {
  const { access, post } = await postAccess(db, viewerId, postId);
  if (post.deleted_at !== null) throw new NotFoundError('post');
  const authorFields = (['title', 'content', 'url', 'flair_id'] as const).filter((key) => input[key] !== undefined);
  const moderatorFields = (['is_pinned', 'is_locked'] as const).filter((key) => input[key] !== undefined);
  if (moderatorFields.length) requireModerator(access);
  if (authorFields.length && post.author_id !== viewerId) throw new AppError('not_author', 'only the author may edit this post');

  const fields: FieldErrors = {};
  const changes: Record<string, unknown> = {};
  if (input.title !== undefined) changes.title = checkTitle(fields, input.title);
  if (input.content !== undefined) changes.content = checkContent(fields, input.content);
  if (input.url !== undefined) changes.url = checkPostUrl(fields, post.type, input.url);
  if (input.flair_id !== undefined) {
    requireFlairOf(fields, await findFlair(db, post.forum_id, input.flair_id), input.flair_id);
    changes.flair_id = input.flair_id;
  }
  if (Object.keys(fields).length) throw new ValidationError(fields);
  for (const key of moderatorFields) changes[key] = input[key];
  const edited = authorFields.some((key) => key !== 'flair_id');
  if (Object.keys(changes).length) {
    await db
      .updateTable('forum_posts')
      .set({ ...changes, ...(edited ? { edited_at: sql<Date>`now()` } : {}), updated_at: sql<Date>`now()` })
      .where('id', '=', postId)
      .execute();
    events.publish({ type: 'forum_post.updated', forumId: post.forum_id, postId });
  }
  return getPost(db, viewerId, postId);
}

/** The author or a moderator; idempotent on a tombstone. */
export async function deletePost(db: Db, events: EventBus, viewerId: string, postId: string): Promise<void> {
  const { access, post } = await postAccess(db, viewerId, postId);
  if (post.author_id !== viewerId && !access.isModerator) throw new AppError('not_author', 'only the author or a moderator may delete this post');
  const result = await db
    .updateTable('forum_posts')
    .set({ deleted_at: sql<Date>`now()`, content: null, url: null, is_pinned: false, updated_at: sql<Date>`now()` })
    .where('id', '=', postId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (result.numUpdatedRows > 0n) events.publish({ type: 'forum_post.deleted', forumId: post.forum_id, postId });
}
