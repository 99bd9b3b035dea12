// The block rule, in one place: "a blocked user cannot friend-request, DM or mention the
// blocker". Friends, notifications, messaging and forums all ask these functions (or embed
// `blockExists` in their own statement); none of them re-implements the lookup.
//
// A block is a directional friendships row (user_id blocks friend_id, status 'blocked').
// Both directions of a pair are probes of the same unique partial index,
// friendships_block_index (user_id, friend_id) WHERE status = 'blocked'; "who blocked me"
// lists use friendships_friend_id_status_index.
import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import type { Db } from '../../db/database.ts';

type Ref = Expression<string> | string;

const value = (ref: Ref): Expression<string> => (typeof ref === 'string' ? sql<string>`${ref}::uuid` : ref);

/**
 * `EXISTS (a block by blocker of blocked)`, for embedding in another statement (notify()
 * uses it in its INSERT … SELECT). Either side may be a value or a column reference
 * (`sql.ref('m.sender_id')`).
 */
export function blockExists(blocker: Ref, blocked: Ref): RawBuilder<SqlBool> {
  return sql<SqlBool>`EXISTS (
    SELECT 1 FROM friendships AS block
    WHERE block.user_id = ${value(blocker)} AND block.friend_id = ${value(blocked)} AND block.status = 'blocked'
  )`;
}

/** Has `blocker` blocked `blocked`? (one direction: mentions and notifications) */
export async function hasBlocked(db: Db, blocker: string, blocked: string): Promise<boolean> {
  const { blocked: result } = await db
    .selectNoFrom(sql<boolean>`${blockExists(blocker, blocked)}`.as('blocked'))
    .executeTakeFirstOrThrow();
  return result;
}

/**
 * Is there a block between the two users, in either direction? The rule for anything the
 * two do with each other directly: friend requests, DMs, adding to a group DM.
 */
export async function blockedEitherWay(db: Db, userA: string, userB: string): Promise<boolean> {
  if (userA === userB) return false;
  const { blocked } = await db
    .selectNoFrom(sql<boolean>`${blockExists(userA, userB)} OR ${blockExists(userB, userA)}`.as('blocked'))
    .executeTakeFirstOrThrow();
  return blocked;
}

/** Which way the blocks between `a` and `b` go (one probe per direction, one statement). */
export async function blockDirections(db: Db, a: string, b: string): Promise<{ aBlockedB: boolean; bBlockedA: boolean }> {
  return db
    .selectNoFrom([sql<boolean>`${blockExists(a, b)}`.as('aBlockedB'), sql<boolean>`${blockExists(b, a)}`.as('bBlockedA')])
    .executeTakeFirstOrThrow();
}

/**
 * Of `others`, those with a block between them and `userId`, in either direction: one
 * statement whatever the number (a group DM's participants, the users mentioned in a post).
 */
export async function blockedEitherWayAmong(db: Db, userId: string, others: readonly string[]): Promise<Set<string>> {
  const ids = [...new Set(others)].filter((id) => id !== userId);
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('friendships')
    .select(sql<string>`CASE WHEN user_id = ${userId}::uuid THEN friend_id ELSE user_id END`.as('other_id'))
    .where('status', '=', 'blocked')
    .where((eb) =>
      eb.or([
        eb.and([eb('user_id', '=', userId), eb('friend_id', 'in', ids)]),
        eb.and([eb('friend_id', '=', userId), eb('user_id', 'in', ids)]),
      ]),
    )
    .execute();
  return new Set(rows.map((row) => row.other_id));
}

/** Of `recipients`, those who have blocked `actorId` (they get no mention or reply from them). */
export async function blockersAmong(db: Db, actorId: string, recipients: readonly string[]): Promise<Set<string>> {
  const ids = [...new Set(recipients)];
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('friendships')
    .select('user_id')
    .where('status', '=', 'blocked')
    .where('friend_id', '=', actorId)
    .where('user_id', 'in', ids)
    .execute();
  return new Set(rows.map((row) => row.user_id));
}
