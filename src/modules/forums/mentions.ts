// Notifications for forum writing: `reply` to the author of the post or comment answered,
// `mention` for each @username who can see the forum. One notification per recipient,
// the most specific (a mentioned reply target gets the mention). Never to the writer
// themselves, never to someone who blocked the writer: notify() applies both rules, with
// the block lookup from friends/blocks.ts, in the caller's transaction.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { TransactionContext } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { mentionedUsernames } from '../messaging/conversation-messages.ts';
import { notify } from '../notifications/service.ts';
import type { ForumRow } from './forums.ts';

export interface ForumNotifications {
  forum: Pick<ForumRow, 'id' | 'is_public' | 'owner_id'>;
  actorId: string;
  /** The text to scan for @usernames (title and body). */
  text: string;
  /** The author of what is answered (a post or comment), if any. */
  replyToUserId: string | null;
  data: Record<string, unknown>;
}

export async function notifyForumActivity(
  trx: Db,
  after: { ctx: TransactionContext; events: EventBus },
  input: ForumNotifications,
): Promise<void> {
  const names = mentionedUsernames(input.text);
  const replyTo = input.replyToUserId;
  if (names.length === 0 && replyTo === null) return;
  // The candidates (mentioned usernames and the reply target) who can see the forum, in one
  // statement: everyone for a public forum; its owner, moderators and members for a private
  // one (neither a mention nor a reply may point anyone at a thread they cannot read).
  const rows = await trx
    .selectFrom('users as u')
    .select(['u.id', 'u.username'])
    .where((eb) => {
      const who = [];
      if (names.length) who.push(eb('u.username', 'in', names));
      if (replyTo !== null) who.push(eb('u.id', '=', replyTo));
      return eb.or(who);
    })
    .$if(!input.forum.is_public, (q) =>
      q.where((eb) =>
        eb.or([
          eb('u.id', '=', input.forum.owner_id),
          sql<boolean>`EXISTS (SELECT 1 FROM forum_moderators m WHERE m.forum_id = ${input.forum.id}::uuid AND m.user_id = u.id)`,
          sql<boolean>`EXISTS (SELECT 1 FROM forum_members m WHERE m.forum_id = ${input.forum.id}::uuid AND m.user_id = u.id)`,
        ]),
      ),
    )
    .execute();
  const lowerNames = new Set(names);
  const mentioned = new Set(rows.filter((row) => lowerNames.has(row.username.toLowerCase())).map((row) => row.id));
  const replyVisible = rows.some((row) => row.id === replyTo);
  for (const userId of mentioned) {
    await notify(trx, { userId, type: 'mention', actorId: input.actorId, data: input.data }, after);
  }
  if (replyTo !== null && replyVisible && !mentioned.has(replyTo)) {
    await notify(trx, { userId: replyTo, type: 'reply', actorId: input.actorId, data: input.data }, after);
  }
}
