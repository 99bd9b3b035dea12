// The friends context: requests, acceptance, removal, and blocks. Every change to a pair
// of users runs in one transaction holding the pair's advisory lock (lockPair), so two
// users who ask each other at the same moment end with one accepted friendship, and a
// block cannot race a request. The unique index friendships_pair_index stays the last
// line: a violation it still catches is a 409, never a 500.
//
// Blocks and privacy: a request to someone who blocked the caller is answered exactly as
// a request to an unknown username (404 not_found), so a block is never revealed to the
// blocked user. The blocker, who knows, gets 409 user_blocked for their own requests.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { keysetPage, type KeysetPage } from '../../db/pagination.ts';
import { transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError } from '../../lib/errors.ts';
import type { PublicUserView } from '../accounts/service.ts';
import { markRequestNotificationsRead, notify } from '../notifications/service.ts';
import { blockDirections } from './blocks.ts';
import {
  acceptedOf,
  deletePair,
  deleteRequestNotifications,
  findPair,
  findUserByUsername,
  friendshipsWithOther,
  lockPair,
  pendingRequests,
  type FriendshipWithOther,
} from './queries.ts';

export interface FriendshipView {
  id: string;
  status: 'pending' | 'accepted';
  /** outgoing: the caller asked; incoming: the other user did. */
  direction: 'incoming' | 'outgoing';
  /** The other user. */
  user: PublicUserView;
  requested_at: string;
  accepted_at: string | null;
}

export interface BlockView {
  user: PublicUserView;
  blocked_at: string;
}

type UserColumns = Pick<
  FriendshipWithOther,
  'u_id' | 'u_username' | 'u_display_name' | 'u_avatar_url' | 'u_status' | 'u_custom_status' | 'u_inserted_at'
>;

function toPublic(row: UserColumns): PublicUserView {
  return {
    id: row.u_id,
    username: row.u_username,
    display_name: row.u_display_name,
    avatar_url: row.u_avatar_url,
    status: row.u_status,
    custom_status: row.u_custom_status,
    inserted_at: row.u_inserted_at.toISOString(),
  };
}

function toView(me: string, row: FriendshipWithOther): FriendshipView {
  return {
    id: row.id,
    status: row.status === 'accepted' ? 'accepted' : 'pending',
    direction: row.user_id === me ? 'outgoing' : 'incoming',
    user: toPublic(row),
    requested_at: row.requested_at.toISOString(),
    accepted_at: row.accepted_at?.toISOString() ?? null,
  };
}

/** The user named `username`, or 404; the caller themselves is `selfError`. */
async function target(db: Db, me: string, username: string, selfError: () => AppError) {
  const name = username.trim().toLowerCase();
  if (!/^[a-z0-9_]{3,20}$/.test(name)) throw new NotFoundError('user');
  const user = await findUserByUsername(db, name);
  if (!user) throw new NotFoundError('user');
  if (user.u_id === me) throw selfError();
  return user;
}

async function viewOf(db: Db, me: string, id: string): Promise<FriendshipView> {
  return toView(me, await friendshipsWithOther(db, me).where('friendships.id', '=', id).executeTakeFirstOrThrow());
}

export interface RequestOutcome {
  /** true: a new pending request (201); false: the other side had asked, now friends (200). */
  created: boolean;
  friendship: FriendshipView;
}

/** POST /friends/requests: ask `username`, or accept their pending request to the caller. */
export async function requestFriend(db: Db, events: EventBus, me: string, username: string): Promise<RequestOutcome> {
  const other = await target(db, me, username, () => new AppError('friend_request_self', 'you cannot befriend yourself', 422, { username: ['is yourself'] }));
  const outcome = await transaction(db, async (trx, ctx) => {
    await lockPair(trx, me, other.u_id);
    const blocks = await blockDirections(trx, me, other.u_id);
    if (blocks.aBlockedB) throw new AppError('user_blocked', 'you have blocked this user; unblock them first', 409);
    if (blocks.bBlockedA) throw new NotFoundError('user');
    const existing = await findPair(trx, me, other.u_id);
    if (existing?.status === 'accepted') throw new AppError('already_friends', 'you are already friends', 409);
    if (existing?.user_id === me) throw new AppError('friend_request_exists', 'you have already asked this user', 409);
    if (existing) {
      // They asked first: this request is the answer.
      await acceptRow(trx, existing.id);
      await notify(trx, { userId: other.u_id, type: 'friend_accepted', actorId: me, data: { friendship_id: existing.id, user_id: me } }, { ctx, events });
      await markRequestNotificationsRead(trx, me, other.u_id);
      ctx.afterCommit(() => events.publish({ type: 'friendship.accepted', friendshipId: existing.id, userIds: [other.u_id, me] }));
      return { created: false, friendship: await viewOf(trx, me, existing.id) };
    }
    const { id } = await trx
      .insertInto('friendships')
      .values({ user_id: me, friend_id: other.u_id, status: 'pending' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await notify(trx, { userId: other.u_id, type: 'friend_request', actorId: me, data: { friendship_id: id, user_id: me } }, { ctx, events });
    ctx.afterCommit(() => events.publish({ type: 'friend_request.created', friendshipId: id, fromUserId: me, toUserId: other.u_id }));
    return { created: true, friendship: await viewOf(trx, me, id) };
  }).catch(pairConflict);
  if (!outcome.ok) throw new Error('unreachable: requestFriend never fails by value');
  return outcome.value;
}

// The advisory lock makes this unreachable in practice; the unique index is the backstop.
function pairConflict(error: unknown): never {
  const e = error as { code?: unknown; constraint?: unknown };
  if (e.code === '23505' && e.constraint === 'friendships_pair_index') {
    throw new AppError('friend_request_exists', 'a request or friendship already exists', 409);
  }
  throw error;
}

function acceptRow(trx: Db, id: string) {
  return trx
    .updateTable('friendships')
    .set({ status: 'accepted', accepted_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** POST /friends/requests/:id/accept: only the addressee; accepting twice is fine. */
export async function acceptRequest(db: Db, events: EventBus, me: string, id: string): Promise<FriendshipView> {
  const row = await db.selectFrom('friendships').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || row.status === 'blocked' || (row.user_id !== me && row.friend_id !== me)) throw new NotFoundError('friend request');
  const other = row.user_id === me ? row.friend_id : row.user_id;
  const outcome = await transaction(db, async (trx, ctx) => {
    await lockPair(trx, me, other);
    const current = await findPair(trx, me, other);
    if (!current || current.id !== id) throw new NotFoundError('friend request');
    if (current.status === 'accepted') return viewOf(trx, me, id);
    if (current.friend_id !== me) throw new AppError('not_addressee', 'only the user who was asked can accept', 403);
    await acceptRow(trx, id);
    await notify(trx, { userId: other, type: 'friend_accepted', actorId: me, data: { friendship_id: id, user_id: me } }, { ctx, events });
    await markRequestNotificationsRead(trx, me, other);
    ctx.afterCommit(() => events.publish({ type: 'friendship.accepted', friendshipId: id, userIds: [other, me] }));
    return viewOf(trx, me, id);
  });
  if (!outcome.ok) throw new Error('unreachable: acceptRequest never fails by value');
  return outcome.value;
}

/** DELETE /friends/:user_id: unfriend, decline or cancel, whichever the pair's row is. */
export async function removeFriend(db: Db, events: EventBus, me: string, otherId: string): Promise<void> {
  const other = otherId.toLowerCase();
  if (other === me) throw new NotFoundError('friendship');
  const outcome = await transaction(db, async (trx, ctx) => {
    await lockPair(trx, me, other);
    const removed = await deletePair(trx, me, other);
    if (!removed) throw new NotFoundError('friendship');
    await deleteRequestNotifications(trx, me, other);
    ctx.afterCommit(() => events.publish({ type: 'friendship.removed', userIds: [me, other] }));
  });
  if (!outcome.ok) throw new Error('unreachable: removeFriend never fails by value');
}

/** GET /friends: accepted friends, most recently accepted first. */
export async function listFriends(db: Db, me: string, page: { limit: number; cursor?: string | undefined }): Promise<KeysetPage<FriendshipView>> {
  const result = await keysetPage(acceptedOf(db, me), { sortKey: 'friendships.accepted_at', id: 'friendships.id', limit: page.limit, cursor: page.cursor });
  return { data: result.data.map((row) => toView(me, row)), next_cursor: result.next_cursor };
}

/** Pending requests shown per direction, newest first (more than this many is spam). */
export const REQUESTS_SHOWN = 100;

/** GET /friends/requests: `{incoming, outgoing}`, newest first. */
export async function listRequests(db: Db, me: string): Promise<{ incoming: FriendshipView[]; outgoing: FriendshipView[] }> {
  const [incoming, outgoing] = await Promise.all([
    pendingRequests(db, me, 'incoming', REQUESTS_SHOWN),
    pendingRequests(db, me, 'outgoing', REQUESTS_SHOWN),
  ]);
  return { incoming: incoming.map((row) => toView(me, row)), outgoing: outgoing.map((row) => toView(me, row)) };
}

// -- blocks --------------------------------------------------------------------------------

/**
 * POST /blocks: blocks `username` (idempotent). In the same transaction: the pair's
 * friendship or pending request is deleted, and so are the notifications the blocked user
 * caused the blocker, and friend-request notifications between the two.
 */
export async function blockUser(db: Db, events: EventBus, me: string, username: string): Promise<void> {
  const other = await target(db, me, username, () => new AppError('block_self', 'you cannot block yourself', 422, { username: ['is yourself'] }));
  const outcome = await transaction(db, async (trx, ctx) => {
    await lockPair(trx, me, other.u_id);
    const removed = await deletePair(trx, me, other.u_id);
    await trx
      .insertInto('friendships')
      .values({ user_id: me, friend_id: other.u_id, status: 'blocked' })
      .onConflict((oc) => oc.columns(['user_id', 'friend_id']).where('status', '=', 'blocked').doNothing())
      .execute();
    await trx.deleteFrom('notifications').where('user_id', '=', me).where('actor_id', '=', other.u_id).execute();
    await deleteRequestNotifications(trx, me, other.u_id);
    ctx.afterCommit(() => {
      if (removed) events.publish({ type: 'friendship.removed', userIds: [me, other.u_id] });
      events.publish({ type: 'user.blocked', userId: me, blockedUserId: other.u_id });
    });
  });
  if (!outcome.ok) throw new Error('unreachable: blockUser never fails by value');
}

/** DELETE /blocks/:user_id: lifts the caller's block; 404 when there is none. */
export async function unblockUser(db: Db, events: EventBus, me: string, otherId: string): Promise<void> {
  const other = otherId.toLowerCase();
  const result = await db
    .deleteFrom('friendships')
    .where('user_id', '=', me)
    .where('friend_id', '=', other)
    .where('status', '=', 'blocked')
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('block');
  events.publish({ type: 'user.unblocked', userId: me, unblockedUserId: other });
}

/** GET /blocks: the users the caller has blocked, most recent first. */
export async function listBlocks(db: Db, me: string, page: { limit: number; cursor?: string | undefined }): Promise<KeysetPage<BlockView>> {
  const query = db
    .selectFrom('friendships')
    .innerJoin('users', 'users.id', 'friendships.friend_id')
    .select(['friendships.id', 'friendships.inserted_at', 'users.id as u_id', 'users.username as u_username', 'users.display_name as u_display_name', 'users.avatar_url as u_avatar_url', 'users.status as u_status', 'users.custom_status as u_custom_status', 'users.inserted_at as u_inserted_at'])
    .where('friendships.user_id', '=', me)
    .where('friendships.status', '=', 'blocked');
  const result = await keysetPage(query, { id: 'friendships.id', limit: page.limit, cursor: page.cursor });
  return { data: result.data.map((row) => ({ user: toPublic(row), blocked_at: row.inserted_at.toISOString() })), next_cursor: result.next_cursor };
}
