// Reacting, the same wherever the message lives: the caller (conversation or channel side)
// checks access first, then these write through the shared store and announce after commit.
// Both are idempotent: a reaction already there (or already gone) changes nothing and
// announces nothing.
import type { Db } from '../../db/database.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { NotFoundError } from '../../lib/errors.ts';
import type { MessageLocation } from './location.ts';
import { addReaction, checkEmoji, findMessage, removeReaction } from './messages.ts';

export interface ReactionTarget {
  loc: MessageLocation;
  containerId: string;
  messageId: string;
  userId: string;
  emoji: string;
}

export async function react(db: Db, events: EventBus, target: ReactionTarget): Promise<void> {
  const { loc, containerId, messageId, userId } = target;
  const emoji = checkEmoji(target.emoji);
  const outcome = await transaction(db, async (trx, ctx) => {
    if (await addReaction(trx, loc, containerId, messageId, userId, emoji)) {
      ctx.afterCommit(() =>
        events.publish({ type: 'reaction.added', location: loc.kind, containerId, messageId, userId, emoji }),
      );
    }
    return null;
  });
  if (!outcome.ok) throw new Error('unreachable');
}

export async function unreact(db: Db, events: EventBus, target: ReactionTarget): Promise<void> {
  const { loc, containerId, messageId, userId } = target;
  const emoji = checkEmoji(target.emoji);
  if (!(await findMessage(db, loc, containerId, messageId))) throw new NotFoundError('message');
  if (await removeReaction(db, loc, messageId, userId, emoji)) {
    events.publish({ type: 'reaction.removed', location: loc.kind, containerId, messageId, userId, emoji });
  }
}
