// Poll votes: one per user per poll (poll_votes' primary key), changeable until the poll
// closes. The option must be one of this poll's: checked first for a clear 422, and the
// composite foreign key (post_id, option_id) → poll_options (post_id, id) is the last line.
// Option counts are kept by the poll_votes trigger, in the voter's transaction.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { getPost, postAccess, type PostView } from './posts.ts';

export async function votePoll(db: Db, events: EventBus, userId: string, postId: string, optionId: string): Promise<PostView> {
  const { post } = await postAccess(db, userId, postId);
  if (post.deleted_at !== null) throw new NotFoundError('post');
  if (post.type !== 'poll') throw new AppError('not_a_poll', 'this post is not a poll');
  if (!post.options.some((option) => option.id === optionId)) {
    throw new ValidationError({ option_id: ['is not an option of this poll'] });
  }
  // The close time is compared in the statement, so a vote racing the deadline is judged
  // by the database's clock, once.
  const written = await db
    .insertInto('poll_votes')
    .columns(['post_id', 'user_id', 'option_id'])
    .expression(
      db
        .selectFrom('forum_posts')
        .select([sql<string>`${postId}::uuid`.as('post_id'), sql<string>`${userId}::uuid`.as('user_id'), sql<string>`${optionId}::uuid`.as('option_id')])
        .where('id', '=', postId)
        .where((eb) => eb.or([eb('poll_closes_at', 'is', null), eb('poll_closes_at', '>', sql<Date>`now()`)])),
    )
    .onConflict((oc) =>
      oc
        .columns(['post_id', 'user_id'])
        .doUpdateSet({ option_id: (eb) => eb.ref('excluded.option_id'), updated_at: sql<Date>`now()` })
        .where('poll_votes.option_id', '<>', (eb) => eb.ref('excluded.option_id')),
    )
    .executeTakeFirst();
  if (written.numInsertedOrUpdatedRows === 0n) {
    const current = await db.selectFrom('poll_votes').select('option_id').where('post_id', '=', postId).where('user_id', '=', userId).executeTakeFirst();
    if (current?.option_id !== optionId) throw new AppError('poll_closed', 'the poll has closed');
  } else {
    events.publish({ type: 'forum_post.updated', forumId: post.forum_id, postId });
  }
  return getPost(db, userId, postId);
}
