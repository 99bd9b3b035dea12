// Request and response shapes of the forums API (they also feed the OpenAPI document).
// Bounds here keep hostile input cheap; the services apply the rules with field errors
// (trimmed text, blank titles, URLs, poll options, flairs of the same forum).
import { z } from 'zod';
import { cursorQuery, isoDate, uuid } from '../../http/schemas.ts';
import { COMMENT_SORTS } from './comment-tree.ts';
import { POLL_LABEL_MAX, POLL_OPTIONS_MAX, POST_CONTENT_MAX, POST_TYPES, TITLE_MAX } from './posts.ts';
import { LISTING_CURSOR_MAX } from './listing-cursors.ts';
import { POST_SORTS, TOP_WINDOWS } from './ranking.ts';

const slugParam = z.string().min(1).max(100);
export const forumParams = z.object({ slug: slugParam });
export const forumUserParams = z.object({ slug: slugParam, user_id: uuid });
export const flairParams = z.object({ slug: slugParam, flair_id: uuid });
export const idParams = z.object({ id: uuid });

export const userSummary = z
  .object({ id: uuid, username: z.string(), display_name: z.string().nullable(), avatar_url: z.string().nullable() })
  .meta({ id: 'ForumUser' });

export const forum = z
  .object({
    id: uuid,
    name: z.string(),
    slug: z.string(),
    description: z.string().nullable(),
    icon_url: z.string().nullable(),
    banner_url: z.string().nullable(),
    is_public: z.boolean(),
    owner_id: uuid,
    moderators: z.array(userSummary),
    viewer: z.object({ is_owner: z.boolean(), is_moderator: z.boolean(), is_member: z.boolean() }),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'Forum' });

export const forumList = z.object({ data: z.array(forum), next_cursor: z.string().nullable() });

const optionalUrl = z.string().max(2048).nullable().optional();

export const createForumBody = z
  .object({
    name: z.string().max(200),
    slug: z.string().max(100).describe('^[a-z0-9-]{2,50}$, unique'),
    description: z.string().max(2000).nullable().optional(),
    icon_url: optionalUrl,
    banner_url: optionalUrl,
    is_public: z.boolean().optional(),
  })
  .strict();

export const updateForumBody = z
  .object({
    name: z.string().max(200).optional(),
    description: z.string().max(2000).nullable().optional(),
    icon_url: optionalUrl,
    banner_url: optionalUrl,
    is_public: z.boolean().optional(),
  })
  .strict();

export const flair = z.object({ id: uuid, name: z.string(), color: z.string().nullable() }).meta({ id: 'ForumFlair' });
export const flairList = z.object({ data: z.array(flair) });
export const createFlairBody = z
  .object({ name: z.string().max(200), color: z.string().max(7).nullable().optional().describe('#rrggbb') })
  .strict();

export const poll = z
  .object({
    closes_at: isoDate.nullable(),
    closed: z.boolean(),
    options: z.array(z.object({ id: uuid, label: z.string(), position: z.number().int(), vote_count: z.number().int() })),
    my_vote: uuid.nullable().describe("the option the caller voted for"),
  })
  .meta({ id: 'Poll' });

export const post = z
  .object({
    id: uuid,
    forum_id: uuid,
    author: userSummary.nullable().describe('null once deleted (or for a deleted account)'),
    flair: flair.nullable(),
    title: z.string(),
    type: z.enum(POST_TYPES),
    content: z.string().nullable(),
    url: z.string().nullable(),
    score: z.number().int(),
    upvotes: z.number().int(),
    downvotes: z.number().int(),
    comment_count: z.number().int(),
    hot: z.number(),
    is_pinned: z.boolean(),
    is_locked: z.boolean(),
    deleted: z.boolean(),
    poll: poll.nullable(),
    my_vote: z.number().int().describe("the caller's vote: 1, -1 or 0"),
    edited_at: isoDate.nullable(),
    deleted_at: isoDate.nullable(),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'ForumPost' });

export const postList = z.object({
  data: z.array(post).describe('the first page starts with the pinned posts'),
  next_cursor: z.string().nullable(),
});

export const listPostsQuery = cursorQuery.extend({
  // A first page's cursor carries the ids it showed (listing-cursors.ts).
  cursor: z.string().max(LISTING_CURSOR_MAX).optional(),
  sort: z.enum(POST_SORTS).default('hot'),
  t: z.enum(TOP_WINDOWS).optional().describe('top only; default day'),
});

export const createPostBody = z
  .object({
    title: z.string().max(1000),
    type: z.enum(POST_TYPES).default('text'),
    content: z.string().max(POST_CONTENT_MAX * 2).nullable().optional().describe(`Markdown, at most ${POST_CONTENT_MAX} characters`),
    url: optionalUrl.describe('link and image posts (for an image: an uploaded attachment\'s url or any image URL)'),
    flair_id: uuid.nullable().optional(),
    poll_options: z
      .array(z.string().max(POLL_LABEL_MAX * 2))
      .max(50)
      .optional()
      .describe(`poll posts: 2 to ${POLL_OPTIONS_MAX} labels`),
    poll_closes_at: isoDate.nullable().optional(),
  })
  .strict()
  .describe(`title 1–${TITLE_MAX}`);

export const updatePostBody = z
  .object({
    title: z.string().max(1000).optional(),
    content: z.string().max(POST_CONTENT_MAX * 2).nullable().optional(),
    url: optionalUrl,
    flair_id: uuid.nullable().optional(),
    is_pinned: z.boolean().optional(),
    is_locked: z.boolean().optional(),
  })
  .strict();

export const voteBody = z.object({ value: z.union([z.literal(1), z.literal(0), z.literal(-1)]) }).strict();
export const voteResult = z.object({ score: z.number().int() });
export const pollVoteBody = z.object({ option_id: uuid }).strict();

export const comment = z
  .object({
    id: uuid,
    post_id: uuid,
    parent_id: uuid.nullable(),
    author: userSummary.nullable(),
    content: z.string().nullable().describe('null once deleted'),
    score: z.number().int(),
    upvotes: z.number().int(),
    downvotes: z.number().int(),
    depth: z.number().int(),
    my_vote: z.number().int(),
    deleted: z.boolean(),
    edited_at: isoDate.nullable(),
    deleted_at: isoDate.nullable(),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'ForumComment' });

export type CommentTreeSchema = z.infer<typeof comment> & { replies: CommentTreeSchema[]; more_replies: number };

export const commentTree = comment
  .extend({
    get replies(): z.ZodArray<z.ZodType<CommentTreeSchema>> {
      return z.array(commentTree);
    },
    more_replies: z.number().int().describe('live replies below this comment not included here (fetch with parent_id)'),
  })
  .meta({ id: 'ForumCommentTree' });

export const commentList = z.object({
  data: z.array(commentTree).describe('top-level comments (or the replies of parent_id), each with its nested replies'),
  next_cursor: z.string().nullable().describe('the next top-level comments'),
});

export const listCommentsQuery = cursorQuery.extend({
  sort: z.enum(COMMENT_SORTS).default('best'),
  parent_id: uuid.optional().describe('only the replies below this comment'),
});

export const createCommentBody = z
  .object({ content: z.string().max(20000), parent_id: uuid.nullable().optional() })
  .strict();
export const updateCommentBody = z.object({ content: z.string().max(20000) }).strict();
