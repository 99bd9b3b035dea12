// Domain events: what changed, announced by the contexts after their transaction commits.
// Caches, the gateway and notification fan-out subscribe here; nothing publishes from
// inside a transaction that may still roll back. Across nodes the bus relays through
// Redis pub/sub when REDIS_URL is set, so every node's caches hear every change.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.ts';

export type DomainEvent =
  | { type: 'sessions.revoked'; userId: string; sessionIds: string[] }
  | { type: 'user.updated'; userId: string };

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
