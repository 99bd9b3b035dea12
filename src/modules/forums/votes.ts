// Votes on posts and comments: 1 (up), -1 (down) or 0 (remove). One row per (item, user),
// enforced by the primary key; the vote is written with one upsert (or delete) and the
// row triggers apply its delta to score/upvotes/downvotes (and hot, for posts) in the same
// transaction, so scores stay exact however many voters race (votes.test.ts). The score
// returned is read right after the vote commits.
//
// Locks: a locked post keeps its post votes, but its comments are frozen: no new comments,
// no comment edits and no comment votes (403 post_locked).
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError } from '../../lib/errors.ts';
import { commentAccess } from './comments.ts';
import { postGate } from './posts.ts';

export type VoteValue = -1 | 0 | 1;

export async function votePost(db: Db, events: EventBus, userId: string, postId: string, value: VoteValue): Promise<{ score: number }> {
  const post = await postGate(db, userId, postId);
  if (post.deleted) throw new NotFoundError('post');
  const score = await castPostVote(db, userId, postId, value);
  events.publish({ type: 'forum_post.voted', forumId: post.forumId, postId, score });
  return { score };
}

/**
 * The vote is ONE autocommitted statement (its trigger updates the post in the same
 * transaction), then the score is read: the post row stays locked only while that
 * statement commits, not across client round trips, which is what bounds the votes per
 * second on one hot post. The score returned includes this vote and any committed before
 * the read. No access checks here: callers do them.
 */
export async function castPostVote(db: Db, userId: string, postId: string, value: VoteValue): Promise<number> {
  if (value === 0) {
    await db.deleteFrom('forum_votes').where('post_id', '=', postId).where('user_id', '=', userId).execute();
  } else {
    await db
      .insertInto('forum_votes')
      .values({ post_id: postId, user_id: userId, value })
      .onConflict((oc) =>
        oc
          .columns(['post_id', 'user_id'])
          .doUpdateSet({ value: (eb) => eb.ref('excluded.value'), updated_at: sql<Date>`now()` })
          .where('forum_votes.value', '<>', (eb) => eb.ref('excluded.value')),
      )
      .execute();
  }
  const row = await db.selectFrom('forum_posts').select('score').where('id', '=', postId).executeTakeFirst();
  if (!row) throw new NotFoundError('post');
  return row.score;
}

export async function voteComment(db: Db, events: EventBus, userId: string, commentId: string, value: VoteValue): Promise<{ score: number }> {
  const { comment, post } = await commentAccess(db, userId, commentId);
  if (comment.deleted_at !== null || post.deleted_at !== null) throw new NotFoundError('comment');
  if (post.is_locked) throw new AppError('post_locked', 'the post is locked');
  const score = await castCommentVote(db, userId, commentId, value);
  events.publish({ type: 'forum_comment.voted', forumId: post.forum_id, postId: post.id, commentId, score });
  return { score };
}

/** As castPostVote, for a comment. */
export async function castCommentVote(db: Db, userId: string, commentId: string, value: VoteValue): Promise<number> {
  if (value === 0) {
    await db.deleteFrom('comment_votes').where('comment_id', '=', commentId).where('user_id', '=', userId).execute();
  } else {
    await db
      .insertInto('comment_votes')
      .values({ comment_id: commentId, user_id: userId, value })
      .onConflict((oc) =>
        oc
          .columns(['comment_id', 'user_id'])
          .doUpdateSet({ value: (eb) => eb.ref('excluded.value'), updated_at: sql<Date>`now()` })
          .where('comment_votes.value', '<>', (eb) => eb.ref('excluded.value')),
      )
      .execute();
  }
  const row = await db.selectFrom('forum_comments').select('score').where('id', '=', commentId).executeTakeFirst();
  if (!row) throw new NotFoundError('comment');
  return row.score;
}
