// Domain events: what changed, announced by the contexts after their transaction commits.
// Caches, the gateway and notification fan-out subscribe here; nothing publishes from
// inside a transaction that may still roll back. Across nodes the bus relays through the
// configured fan-out (src/gateway/fanout: Redis pub/sub, PostgreSQL LISTEN/NOTIFY, or
// in-process), the same transport the gateway uses, so every node's caches and sockets
// hear every change.
import { randomUUID } from 'node:crypto';
import { TOPICS, type Fanout } from '../gateway/fanout/transport.ts';
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
  | { type: 'participant.left'; conversationId: string; userId: string }
  // Forums (docs/forums.md). Ids only; the gateway checks the forum's visibility.
  | { type: 'forum_post.created'; forumId: string; postId: string; authorId: string | null }
  | { type: 'forum_post.updated'; forumId: string; postId: string }
  | { type: 'forum_post.deleted'; forumId: string; postId: string }
  | { type: 'forum_post.voted'; forumId: string; postId: string; score: number }
  | { type: 'forum_comment.created'; forumId: string; postId: string; commentId: string; parentId: string | null; authorId: string | null }
  | { type: 'forum_comment.updated'; forumId: string; postId: string; commentId: string }
  | { type: 'forum_comment.deleted'; forumId: string; postId: string; commentId: string }
  | { type: 'forum_comment.voted'; forumId: string; postId: string; commentId: string; score: number }
  // Groups (docs/groups.md). The gateway decides who may see them: member-only group
  // events go to members (permissions.ts mayViewGroup), channel events to those who may
  // view the channel (mayViewChannel); a role or overwrite change can change that, so
  // subscribers re-check on role.updated / channel.updated / member.updated.
  | { type: 'group.updated'; groupId: string }
  | { type: 'group.deleted'; groupId: string }
  | { type: 'member.joined'; groupId: string; userId: string }
  | { type: 'member.left'; groupId: string; userId: string; reason: 'left' | 'kicked' | 'banned' }
  | { type: 'member.updated'; groupId: string; userId: string }
  | { type: 'role.updated'; groupId: string; roleId: string; change: 'created' | 'updated' | 'deleted' }
  | { type: 'channel.updated'; groupId: string; channelId: string; change: 'created' | 'updated' | 'deleted' };

export type Handler = (event: DomainEvent) => void;

// What a publisher already built for an event (the message view of a message.created):
// local subscribers, the gateway's producer, use it instead of reading it back. Kept beside
// the event object, never in it, so it never crosses nodes (the fan-out carries the event
// alone, and other nodes' subscribers read what they need).
const builtViews = new WeakMap<DomainEvent, unknown>();

/** `event`, with the view its publisher built (see builtView). */
export function withBuiltView<E extends DomainEvent>(event: E, view: unknown): E {
  builtViews.set(event, view);
  return event;
}

/** The view published with this event object on this node, if any. */
export function builtView(event: DomainEvent): unknown {
  return builtViews.get(event);
}

export interface EventBus {
  publish(event: DomainEvent): void;
  subscribe(handler: Handler): () => void;
  /**
   * Only events published on this node (the gateway produces each room event once, there).
   * Optional so test doubles of the bus need not implement it.
   */
  subscribeLocal?(handler: Handler): () => void;
  close(): Promise<void>;
}

export function createEventBus(logger: Logger, fanout?: Fanout): EventBus {
  const handlers = new Set<Handler>();
  const localHandlers = new Set<Handler>();
  const nodeId = randomUUID();
  const deliver = (event: DomainEvent, to: Set<Handler> = handlers) => {
    for (const handler of to) {
      try {
        handler(event);
      } catch (error) {
        logger.error({ err: error, event: event.type }, 'event handler failed');
      }
    }
  };

  fanout?.subscribe(TOPICS.events, (message: string) => {
    try {
      const { from, event } = JSON.parse(message) as { from: string; event: DomainEvent };
      if (from !== nodeId) deliver(event);
    } catch (error) {
      logger.warn({ err: error }, 'ignored a malformed event');
    }
  });

  return {
    publish(event) {
      deliver(event);
      deliver(event, localHandlers);
      fanout?.publish(TOPICS.events, JSON.stringify({ from: nodeId, event }));
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    subscribeLocal(handler) {
      localHandlers.add(handler);
      return () => localHandlers.delete(handler);
    },
    async close() {
      handlers.clear();
      localHandlers.clear();
    },
  };
}
