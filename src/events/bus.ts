// Domain events: what changed, announced by the contexts after their transaction commits.
// Caches, the gateway and notification fan-out subscribe here; nothing publishes from
// inside a transaction that may still roll back. Across nodes the bus relays through
// Redis pub/sub when REDIS_URL is set, so every node's caches hear every change.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.ts';

export type DomainEvent =
  | { type: 'sessions.revoked'; userId: string; sessionIds: string[] }
  | { type: 'user.updated'; userId: string }
  // Friends, blocks, notifications, presence (docs/social.md). Ids only: payloads stay small.
  | { type: 'friend_request.created'; friendshipId: string; fromUserId: string; toUserId: string }
  | { type: 'friendship.accepted'; friendshipId: string; userIds: [string, string] }
  | { type: 'friendship.removed'; userIds: [string, string] }
  | { type: 'user.blocked'; userId: string; blockedUserId: string }
  | { type: 'user.unblocked'; userId: string; unblockedUserId: string }
  | { type: 'notification.created'; userId: string; notificationId: string; notificationType: string }
  | { type: 'notifications.read'; userId: string; notificationIds: string[] | 'all' }
  | { type: 'presence.updated'; userId: string; status: 'online' | 'idle' | 'dnd' | 'offline' }
  // Messaging (docs/messaging.md). `location` says which container `containerId` is: a
  // conversation (DMs) or a channel (groups); the gateway resolves who may see it.
  | { type: 'message.created'; location: 'conversation' | 'channel'; containerId: string; messageId: string; senderId: string | null }
  | { type: 'message.updated'; location: 'conversation' | 'channel'; containerId: string; messageId: string }
  | { type: 'message.deleted'; location: 'conversation' | 'channel'; containerId: string; messageId: string }
  | { type: 'reaction.added'; location: 'conversation' | 'channel'; containerId: string; messageId: string; userId: string; emoji: string }
  | { type: 'reaction.removed'; location: 'conversation' | 'channel'; containerId: string; messageId: string; userId: string; emoji: string }
  | { type: 'conversation.updated'; conversationId: string }
  | { type: 'participant.joined'; conversationId: string; userId: string }
  | { type: 'participant.left'; conversationId: string; userId: string };

export type Handler = (event: DomainEvent) => void;

export interface EventBus {
  publish(event: DomainEvent): void;
  subscribe(handler: Handler): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'cgraph:events';

export function createEventBus(logger: Logger, redis?: Redis): EventBus {
  const handlers = new Set<Handler>();
  const nodeId = randomUUID();
  const deliver = (event: DomainEvent) => {
    for (const handler of handlers) {
      try {
        handler(event);
      } catch (error) {
        logger.error({ err: error, event: event.type }, 'event handler failed');
      }
    }
  };

  let subscriber: Redis | undefined;
  if (redis) {
    subscriber = redis.duplicate();
    subscriber.on('error', (error) => logger.warn({ err: error }, 'event bus subscriber error'));
    void subscriber.subscribe(CHANNEL).catch((error: unknown) => logger.error({ err: error }, 'event bus subscribe failed'));
    subscriber.on('message', (_channel: string, message: string) => {
      try {
        const { from, event } = JSON.parse(message) as { from: string; event: DomainEvent };
        if (from !== nodeId) deliver(event);
      } catch (error) {
        logger.warn({ err: error }, 'ignored a malformed event');
      }
    });
  }

  return {
    publish(event) {
      deliver(event);
      if (redis) {
        redis.publish(CHANNEL, JSON.stringify({ from: nodeId, event })).catch((error: unknown) => {
          logger.error({ err: error, event: event.type }, 'event relay failed');
        });
      }
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      handlers.clear();
      if (subscriber) await subscriber.quit().catch(() => undefined);
    },
  };
}
