// Which rooms a user's connections listen to, and how that changes. A room is "kind:id":
//   user:<user id>            the user's own events (notifications, friend requests, ...)
//   conversation:<id>         a DM or group DM the user participates in
//   presence:<user id>        a friend's (or group co-member's) presence changes
//   group:<id>                a group the user is a member of (member and group events)
//   channel:<id>              a group channel the user may view now (group-rooms.ts)
//
// Each kind answers two questions: "which rooms does U start in" (identify and resume load
// them, in one query per kind) and "how do domain events change who is in which room"
// (applied on every node as the bus relays them, so a removal takes effect at once
// wherever the user is connected). Group/channel rooms plug in by registering a kind.
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DomainEvent } from '../events/bus.ts';

export type RoomKindName = 'user' | 'conversation' | 'presence' | 'group' | 'channel';
export type Room = `${RoomKindName}:${string}`;

// join, not a template literal: V8 builds `${a}:${b}` as a cons string (a pair of pointers
// that keeps both parts alive); join makes one flat string, and the gateway keeps one copy
// of each room however many connections are in it (memory per connection: docs/gateway.md).
export const room = (kind: RoomKindName, id: string): Room => [kind, id].join(':') as Room;

export function parseRoom(value: string): { kind: RoomKindName; id: string } | undefined {
  const match = /^(user|conversation|presence|group|channel):([0-9a-f-]{36})$/i.exec(value);
  return match ? { kind: match[1] as RoomKindName, id: match[2]!.toLowerCase() } : undefined;
}

/** A user joins (or leaves) a room: applied to that user's local connections. */
export interface MembershipChange {
  userId: string;
  room: Room;
  join: boolean;
}

export interface RoomKind {
  kind: RoomKindName;
  /** The room ids of this kind the user may receive events of right now. */
  initialRooms(db: Db, userId: string): Promise<string[]>;
  /** How a domain event changes membership (pure; runs on every node). */
  membershipChanges?(event: DomainEvent): MembershipChange[];
  /**
   * Users whose rooms of this kind must be recomputed after the event (a role change, a
   * new channel): only connected users matter, so `localUserIds` bounds any query.
   */
  reloadFor?(event: DomainEvent, ctx: ReloadContext): string[] | Promise<string[]>;
}

export interface ReloadContext {
  db: Db;
  localUserIds: () => string[];
}

/** Connected users who are members of the group (one query): whose group view a change touches. */
export async function localMembersOf(ctx: ReloadContext, groupId: string): Promise<string[]> {
  const local = ctx.localUserIds();
  if (local.length === 0) return [];
  const rows = await ctx.db
    .selectFrom('group_members')
    .select('user_id')
    .where('group_id', '=', groupId)
    .where('user_id', '=', sql<string>`ANY(${local}::uuid[])`)
    .execute();
  return rows.map((r) => r.user_id);
}

export class RoomRegistry {
  private readonly kinds = new Map<RoomKindName, RoomKind>();

  register(kind: RoomKind): this {
    this.kinds.set(kind.kind, kind);
    return this;
  }

  has(kind: RoomKindName): boolean {
    return this.kinds.has(kind);
  }

  all(): RoomKind[] {
    return [...this.kinds.values()];
  }

  /** Every room the user may receive now: the authorisation snapshot identify/resume start from. */
  async roomsOf(db: Db, userId: string): Promise<Room[]> {
    const lists = await Promise.all(
      this.all().map(async (k) => (await k.initialRooms(db, userId)).map((id) => room(k.kind, id))),
    );
    return lists.flat();
  }

  membershipChanges(event: DomainEvent): MembershipChange[] {
    return this.all().flatMap((k) => k.membershipChanges?.(event) ?? []);
  }

  async reloads(
    event: DomainEvent,
    ctx: ReloadContext,
  ): Promise<Array<{ kind: RoomKind; userIds: string[] }>> {
    const all = await Promise.all(
      this.all().map(async (k) => ({ kind: k, userIds: (await k.reloadFor?.(event, ctx)) ?? [] })),
    );
    return all.filter((r) => r.userIds.length > 0);
  }
}

export const userRooms: RoomKind = {
  kind: 'user',
  initialRooms: async (_db, userId) => [userId],
};

export const conversationRooms: RoomKind = {
  kind: 'conversation',
  async initialRooms(db, userId) {
    const rows = await db
      .selectFrom('conversation_participants')
      .select('conversation_id')
      .where('user_id', '=', userId)
      .execute();
    return rows.map((r) => r.conversation_id);
  },
  membershipChanges(event) {
    if (event.type === 'participant.joined')
      return [{ userId: event.userId, room: room('conversation', event.conversationId), join: true }];
    if (event.type === 'participant.left')
      return [{ userId: event.userId, room: room('conversation', event.conversationId), join: false }];
    return [];
  },
};

/**
 * Presence rooms: a user hears the presence of accepted friends and of the members of the
 * groups they share (API.md), minus anyone blocked either way (blocks also delete the
 * friendship, and the connection filters blocked actors besides).
 */
export const presenceRooms: RoomKind = {
  kind: 'presence',
  async initialRooms(db, userId) {
    const { rows } = await sql<{ id: string }>`
      SELECT friend_id AS id FROM friendships WHERE user_id = ${userId} AND status = 'accepted'
      UNION
      SELECT user_id FROM friendships WHERE friend_id = ${userId} AND status = 'accepted'
      UNION
      SELECT other.user_id FROM group_members mine
        JOIN group_members other ON other.group_id = mine.group_id AND other.user_id <> mine.user_id
       WHERE mine.user_id = ${userId}
    `.execute(db);
    return rows.map((r) => r.id);
  },
  membershipChanges(event) {
    if (event.type !== 'friendship.accepted' && event.type !== 'friendship.removed') return [];
    const [a, b] = event.userIds;
    const join = event.type === 'friendship.accepted';
    // A removed friendship may leave a shared group: the connection reloads presence rooms
    // for that case (reloadFor), so leaving here is only provisional.
    return [
      { userId: a, room: room('presence', b), join },
      { userId: b, room: room('presence', a), join },
    ];
  },
  async reloadFor(event, ctx) {
    if (event.type === 'friendship.removed') return [...event.userIds];
    // Joining or leaving a group adds or removes co-members on both sides.
    if (event.type === 'member.joined' || event.type === 'member.left')
      return [...new Set([event.userId, ...(await localMembersOf(ctx, event.groupId))])];
    return [];
  },
};
