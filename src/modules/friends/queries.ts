// Plain Kysely for friendships. A pair is looked up with the same expressions as the unique
// index friendships_pair_index (LEAST(user_id, friend_id), GREATEST(user_id, friend_id)) so
// the index answers it; the lists use the seed's (user_id, status) and (friend_id, status).
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';

/** The two ids of a pair, smaller first (lower-case uuids compare as PostgreSQL's uuid order). */
export function orderedPair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}

/**
 * Serialises everything done to one pair (request, accept, remove, block) for the rest of
 * the transaction: two users asking each other at the same moment queue here, and the
 * second sees the first's request and accepts it instead of colliding with it.
 */
export async function lockPair(trx: Db, a: string, b: string): Promise<void> {
  const [low, high] = orderedPair(a, b);
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`friendship:${low}:${high}`}, 0))`.execute(trx);
}

/** The pending or accepted row of the pair, whoever asked. */
export function findPair(db: Db, a: string, b: string) {
  const [low, high] = orderedPair(a, b);
  return db
    .selectFrom('friendships')
    .selectAll()
    .where(sql<string>`LEAST(user_id, friend_id)`, '=', low)
    .where(sql<string>`GREATEST(user_id, friend_id)`, '=', high)
    .where('status', 'in', ['pending', 'accepted'])
    .executeTakeFirst();
}

export function deletePair(db: Db, a: string, b: string) {
  const [low, high] = orderedPair(a, b);
  return db
    .deleteFrom('friendships')
    .where(sql<string>`LEAST(user_id, friend_id)`, '=', low)
    .where(sql<string>`GREATEST(user_id, friend_id)`, '=', high)
    .where('status', 'in', ['pending', 'accepted'])
    .returning(['id', 'status', 'user_id', 'friend_id'])
    .executeTakeFirst();
}

/** Friend-request notifications between the two (the request they announce is gone). */
export function deleteRequestNotifications(db: Db, a: string, b: string) {
  return db
    .deleteFrom('notifications')
    .where('type', '=', 'friend_request')
    .where((eb) =>
      eb.or([eb.and([eb('user_id', '=', a), eb('actor_id', '=', b)]), eb.and([eb('user_id', '=', b), eb('actor_id', '=', a)])]),
    )
    .execute();
}

export const publicUserColumns = [
  'users.id as u_id',
  'users.username as u_username',
  'users.display_name as u_display_name',
  'users.avatar_url as u_avatar_url',
  'users.status as u_status',
  'users.custom_status as u_custom_status',
  'users.inserted_at as u_inserted_at',
] as const;

const friendshipColumns = ['friendships.id', 'friendships.status', 'friendships.user_id', 'friendships.friend_id', 'friendships.requested_at', 'friendships.accepted_at'] as const;

/** Rows of `me`'s friendships joined to the other user of each. */
export function friendshipsWithOther(db: Db, me: string) {
  return db
    .selectFrom('friendships')
    .innerJoin('users', (join) =>
      join.on(sql<boolean>`users.id = CASE WHEN friendships.user_id = ${me}::uuid THEN friendships.friend_id ELSE friendships.user_id END`),
    )
    .select([...friendshipColumns, ...publicUserColumns]);
}

export type FriendshipWithOther = Awaited<ReturnType<ReturnType<typeof friendshipsWithOther>['executeTakeFirstOrThrow']>>;

/** Accepted friendships of `me`, either direction (a BitmapOr of the two seed indexes). */
export function acceptedOf(db: Db, me: string) {
  return friendshipsWithOther(db, me)
    .where('friendships.status', '=', 'accepted')
    .where((eb) => eb.or([eb('friendships.user_id', '=', me), eb('friendships.friend_id', '=', me)]));
}

export function pendingRequests(db: Db, me: string, direction: 'incoming' | 'outgoing', limit: number) {
  return friendshipsWithOther(db, me)
    .where('friendships.status', '=', 'pending')
    .where(direction === 'incoming' ? 'friendships.friend_id' : 'friendships.user_id', '=', me)
    .orderBy('friendships.requested_at', 'desc')
    .orderBy('friendships.id', 'desc')
    .limit(limit)
    .execute();
}

export function findUserByUsername(db: Db, username: string) {
  return db
    .selectFrom('users')
    .select(publicUserColumns)
    .where('users.username', '=', username)
    .executeTakeFirst();
}
