// Domain events (ids only) → room events with their data, appended to the resume buffer
// and fanned out. Runs in the process where the domain event was published (the bus's
// local subscribers: an API node, or the job worker for the idle sweep), so each event is
// loaded and numbered exactly once in the cluster.
import type { Db } from '../db/database.ts';
import { builtView, type DomainEvent, type EventBus } from '../events/bus.ts';
import type { Logger } from '../lib/logger.ts';
import { CHANNEL, CONVERSATION } from '../modules/messaging/location.ts';
import { findMessageView, type MessageView } from '../modules/messaging/messages.ts';
import { findNotification } from '../modules/notifications/queries.ts';
import { toView as notificationView, type NotificationView } from '../modules/notifications/service.ts';
import { TOPICS, type Fanout } from './fanout/transport.ts';
import { envelopePayload, type Envelope } from './protocol.ts';
import { appendEvents } from './resume.ts';
import { room, type Room } from './rooms.ts';

export interface RoomEvent {
  room: Room;
  type: string;
  data: unknown;
  actorId: string | null;
}

// Reactions' `me` flag is per viewer; event data is shared by every receiver, so it is
// computed for nobody (false) and clients apply their own reactions themselves.
const NOBODY = '00000000-0000-0000-0000-000000000000';

/** The room a domain event is mainly about; undefined for events clients never see. */
export function primaryRoom(event: DomainEvent): Room | undefined {
  switch (event.type) {
    case 'message.created':
    case 'message.updated':
    case 'message.deleted':
    case 'reaction.added':
    case 'reaction.removed':
      return room(event.location, event.containerId);
    case 'conversation.updated':
    case 'participant.joined':
    case 'participant.left':
      return room('conversation', event.conversationId);
    case 'notification.created':
    case 'notifications.read':
      return room('user', event.userId);
    case 'friend_request.created':
      return room('user', event.toUserId);
    case 'friendship.accepted':
    case 'friendship.removed':
      return room('user', event.userIds[0]);
    case 'presence.updated':
      return room('presence', event.userId);
    case 'group.updated':
    case 'group.deleted':
    case 'member.joined':
    case 'member.left':
    case 'member.updated':
    case 'role.updated':
      return room('group', event.groupId);
    case 'channel.updated':
      return room('channel', event.channelId);
    default:
      return undefined;
  }
}

/** The room events a domain event becomes (none for events clients do not see). */
export async function roomEventsFor(db: Db, event: DomainEvent): Promise<RoomEvent[]> {
  switch (event.type) {
    case 'message.created':
    case 'message.updated': {
      const loc = event.location === 'conversation' ? CONVERSATION : CHANNEL;
      // A message.created published on this node carries the view its sender built (a new
      // message: no reactions, so the same for every viewer); otherwise read it.
      const built = event.type === 'message.created' ? (builtView(event) as MessageView | undefined) : undefined;
      const view = built ?? (await findMessageView(db, loc, event.containerId, event.messageId, NOBODY));
      if (!view) return []; // deleted before we got here: message.deleted follows
      return [
        {
          room: room(event.location, event.containerId),
          type: event.type,
          data: { ...view, [loc.container]: event.containerId },
          actorId: view.sender?.id ?? null,
        },
      ];
    }
    case 'message.deleted': {
      const container = event.location === 'conversation' ? 'conversation_id' : 'channel_id';
      return [
        {
          room: room(event.location, event.containerId),
          type: event.type,
          data: { id: event.messageId, [container]: event.containerId },
          actorId: null,
        },
      ];
    }
    case 'reaction.added':
    case 'reaction.removed': {
      const container = event.location === 'conversation' ? 'conversation_id' : 'channel_id';
      return [
        {
          room: room(event.location, event.containerId),
          type: event.type,
          data: {
            message_id: event.messageId,
            user_id: event.userId,
            emoji: event.emoji,
            [container]: event.containerId,
          },
          actorId: event.userId,
        },
      ];
    }
    case 'conversation.updated': {
      const row = await db
        .selectFrom('conversations')
        .select(['id', 'name', 'is_group', 'owner_id'])
        .where('id', '=', event.conversationId)
        .executeTakeFirst();
      return row ? [{ room: room('conversation', row.id), type: event.type, data: row, actorId: null }] : [];
    }
    case 'participant.joined': {
      const data = { conversation_id: event.conversationId, user_id: event.userId };
      return [
        { room: room('conversation', event.conversationId), type: 'member.joined', data, actorId: null },
      ];
    }
    case 'participant.left': {
      // The one who left is no longer in the room; they hear it in their own room.
      const data = { conversation_id: event.conversationId, user_id: event.userId };
      return [
        { room: room('conversation', event.conversationId), type: 'member.left', data, actorId: null },
        { room: room('user', event.userId), type: 'member.left', data, actorId: null },
      ];
    }
    case 'notification.created': {
      // One published on this node by a send carries its view; otherwise read it.
      const built = builtView(event) as NotificationView | undefined;
      if (built) return [{ room: room('user', event.userId), type: event.type, data: built, actorId: built.actor?.id ?? null }];
      const row = await findNotification(db, event.userId, event.notificationId);
      return row
        ? [
            {
              room: room('user', event.userId),
              type: event.type,
              data: notificationView(row),
              actorId: row.actor_id,
            },
          ]
        : [];
    }
    case 'notifications.read':
      return [
        {
          room: room('user', event.userId),
          type: event.type,
          data: { notification_ids: event.notificationIds },
          actorId: null,
        },
      ];
    case 'friend_request.created':
      return [
        {
          room: room('user', event.toUserId),
          type: event.type,
          data: { id: event.friendshipId, from_user_id: event.fromUserId, to_user_id: event.toUserId },
          actorId: event.fromUserId,
        },
      ];
    case 'friendship.accepted':
    case 'friendship.removed':
      return event.userIds.map((userId) => ({
        room: room('user', userId),
        type: event.type,
        data: { user_ids: event.userIds },
        actorId: null,
      }));
    case 'presence.updated':
      return [
        {
          room: room('presence', event.userId),
          type: event.type,
          data: { user_id: event.userId, status: event.status },
          actorId: event.userId,
        },
      ];
    case 'group.updated': {
      const group = await db
        .selectFrom('groups')
        .select(['id', 'name', 'description', 'icon_url', 'is_public', 'owner_id', 'member_count'])
        .where('id', '=', event.groupId)
        .executeTakeFirst();
      return group
        ? [{ room: room('group', event.groupId), type: event.type, data: group, actorId: null }]
        : [];
    }
    case 'group.deleted':
      return [
        { room: room('group', event.groupId), type: event.type, data: { id: event.groupId }, actorId: null },
      ];
    case 'member.joined':
    case 'member.updated':
      return [
        {
          room: room('group', event.groupId),
          type: event.type,
          data: { group_id: event.groupId, user_id: event.userId },
          actorId: null,
        },
      ];
    case 'member.left': {
      // Kicked or banned members are out of the room already: they hear it in their own.
      const data = { group_id: event.groupId, user_id: event.userId, reason: event.reason };
      return [
        { room: room('group', event.groupId), type: event.type, data, actorId: null },
        { room: room('user', event.userId), type: event.type, data, actorId: null },
      ];
    }
    case 'role.updated':
      return [
        {
          room: room('group', event.groupId),
          type: event.type,
          data: { group_id: event.groupId, role_id: event.roleId, change: event.change },
          actorId: null,
        },
      ];
    case 'channel.updated':
      // Only to those who may view the channel (a private channel's existence stays hidden).
      return [
        {
          room: room('channel', event.channelId),
          type: event.type,
          data: { id: event.channelId, group_id: event.groupId, change: event.change },
          actorId: null,
        },
      ];
    default:
      return [];
  }
}

export interface ProducerDeps {
  db: Db;
  events: EventBus;
  fanout: Fanout;
  logger: Logger;
  nodeId: string;
  /** This process's own sockets (its fan-out echo is skipped); `dataJson` is the data serialised. */
  deliverLocal?: (envelope: Envelope, dataJson: string) => void;
}

interface Batch {
  /** The room events of each domain event of the batch, once loaded. */
  loaded: Promise<RoomEvent[][]>;
  done: boolean;
}

/**
 * Subscribes to the bus's local events and produces their room events, in publication
 * order. Domain events published in the same turn of the event loop (a transaction's
 * after-commit events: a message and its notifications) form a batch whose data loads
 * side by side. Batches are appended in order, one statement at a time, and every batch
 * that finished loading while the previous statement ran joins the next one (group
 * commit): one statement per batch when idle, fewer than one per batch under load.
 */
export class RoomEventProducer {
  private pending: DomainEvent[] = [];
  private scheduled = false;
  private readonly batches: Batch[] = [];
  private appending: Promise<void> | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: ProducerDeps) {
    if (!deps.events.subscribeLocal) throw new Error('the gateway needs an event bus with subscribeLocal');
    this.unsubscribe = deps.events.subscribeLocal((event) => this.produce(event));
  }

  stop(): void {
    this.unsubscribe();
  }

  /** Waits until every room event produced so far is stored and sent. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.appending) await this.appending;
      else if (this.scheduled) await new Promise((resolve) => setImmediate(resolve));
      else return;
    }
  }

  private produce(event: DomainEvent): void {
    if (!primaryRoom(event)) return;
    this.pending.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.startBatch());
  }

  private startBatch(): void {
    this.scheduled = false;
    const events = this.pending;
    this.pending = [];
    const { db, logger } = this.deps;
    const batch: Batch = {
      loaded: Promise.all(
        events.map((event) =>
          roomEventsFor(db, event).catch((error: unknown) => {
            logger.error({ err: error, event: event.type }, 'gateway: event not produced');
            return [];
          }),
        ),
      ),
      done: false,
    };
    void batch.loaded.then(() => (batch.done = true));
    this.batches.push(batch);
    this.kick();
  }

  private kick(): void {
    if (this.appending || this.batches.length === 0) return;
    this.appending = this.appendAll().finally(() => {
      this.appending = undefined;
      this.kick();
    });
  }

  /** Appends and sends batches in order until none is left. */
  private async appendAll(): Promise<void> {
    const { db, fanout, logger, nodeId, deliverLocal } = this.deps;
    while (this.batches.length > 0) {
      await this.batches[0]!.loaded;
      // The leading batches that are loaded go together (their order kept).
      let n = 0;
      while (n < this.batches.length && (n === 0 || this.batches[n]!.done)) n += 1;
      const taken = this.batches.splice(0, n);
      const roomEvents: RoomEvent[] = [];
      for (const b of taken) for (const list of await b.loaded) roomEvents.push(...list);
      if (roomEvents.length === 0) continue;
      const dataJson = roomEvents.map((e) => JSON.stringify(e.data));
      let stored: Array<{ position: number; room_seq: number }>;
      try {
        stored = await appendEvents(
          db,
          roomEvents.map((e, i) => ({ room: e.room, type: e.type, dataJson: dataJson[i]!, actorId: e.actorId })),
        );
      } catch (error) {
        logger.error({ err: error, events: roomEvents.length }, 'gateway: events not stored');
        continue;
      }
      roomEvents.forEach((e, i) => {
        const envelope: Envelope = {
          from: nodeId,
          room: e.room,
          type: e.type,
          data: e.data,
          actor: e.actorId,
          ...stored[i]!,
        };
        // One event failing to reach the local sockets must not stop the others (nor the loop).
        try {
          deliverLocal?.(envelope, dataJson[i]!);
        } catch (error) {
          logger.error({ err: error, event: e.type }, 'gateway: local delivery failed');
        }
        fanout.publish(TOPICS.gateway, envelopePayload(envelope, dataJson[i]!));
      });
    }
  }
}
