// Group and channel rooms, on the groups module's own rule (mayViewChannel), so a kick, a
// ban, a removed role or a new deny overwrite changes what a socket receives.
//
// A member leaving (kicked, banned, left) drops every channel room of that group at once,
// synchronously as the event arrives (the kind remembers which group each channel room
// belongs to); grants that may open or close channels (role, overwrite, member-role and
// channel changes) recompute the affected connected members' channel rooms.
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { mayViewChannel } from '../modules/groups/permissions.ts';
import { localMembersOf, room, RoomRegistry, type RoomKind } from './rooms.ts';
import { conversationRooms, presenceRooms, userRooms } from './rooms.ts';

export const groupRooms: RoomKind = {
  kind: 'group',
  async initialRooms(db, userId) {
    const rows = await db
      .selectFrom('group_members')
      .select('group_id')
      .where('user_id', '=', userId)
      .execute();
    return rows.map((r) => r.group_id);
  },
  membershipChanges(event) {
    if (event.type === 'member.joined')
      return [{ userId: event.userId, room: room('group', event.groupId), join: true }];
    if (event.type === 'member.left')
      return [{ userId: event.userId, room: room('group', event.groupId), join: false }];
    return [];
  },
};

export function channelRoomKind(): RoomKind {
  // channel id → group id, for the channels some connection of this node has (or had).
  const groupOf = new Map<string, string>();
  return {
    kind: 'channel',
    async initialRooms(db: Db, userId: string) {
      const { rows } = await sql<{ id: string; group_id: string }>`
        SELECT c.id, c.group_id FROM channels c
          JOIN group_members gm ON gm.group_id = c.group_id AND gm.user_id = ${userId}
      `.execute(db);
      const visible = await Promise.all(
        rows.map(async (c) => ((await mayViewChannel(db, userId, c.id)) ? c : undefined)),
      );
      return visible.flatMap((c) => {
        if (!c) return [];
        groupOf.set(c.id, c.group_id);
        return [c.id];
      });
    },
    membershipChanges(event) {
      if (event.type !== 'member.left' && event.type !== 'group.deleted') return [];
      const userId = event.type === 'member.left' ? event.userId : undefined;
      const changes = [];
      for (const [channelId, groupId] of groupOf) {
        if (groupId !== event.groupId) continue;
        if (userId) changes.push({ userId, room: room('channel', channelId), join: false });
      }
      return changes;
    },
    async reloadFor(event, ctx) {
      switch (event.type) {
        case 'member.joined':
        case 'member.updated':
          return [event.userId];
        case 'role.updated':
        case 'channel.updated':
          return localMembersOf(ctx, event.groupId);
        default:
          return [];
      }
    },
  };
}

/** Every room kind: users, conversations, presence, groups and channels. */
export function defaultRoomRegistry(): RoomRegistry {
  return new RoomRegistry()
    .register(userRooms)
    .register(conversationRooms)
    .register(presenceRooms)
    .register(groupRooms)
    .register(channelRoomKind());
}
