// Redis pub/sub (REDIS_URL): the given client publishes, a duplicate subscribes (a
// subscribed connection can do nothing else). No size limit worth caring about here.
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.ts';
import { dispatch, type Fanout } from './transport.ts';

export function createRedisFanout(redis: Redis, logger: Logger): Fanout {
  const handlers = new Map<string, Array<(payload: string) => void>>();
  const subscriber = redis.duplicate();
  subscriber.on('error', (error) => logger.warn({ err: error }, 'fan-out subscriber error'));
  subscriber.on('message', (channel: string, message: string) => {
    dispatch(handlers.get(channel), message, (error) =>
      logger.error({ err: error, channel }, 'fan-out handler failed'),
    );
  });
  return {
    kind: 'redis',
    publish(topic, payload) {
      redis
        .publish(topic, payload)
        .catch((error: unknown) => logger.error({ err: error, topic }, 'fan-out publish failed'));
    },
    subscribe(topic, handler) {
      const list = handlers.get(topic);
      if (list) return void list.push(handler);
      handlers.set(topic, [handler]);
      subscriber
        .subscribe(topic)
        .catch((error: unknown) => logger.error({ err: error, topic }, 'fan-out subscribe failed'));
    },
    async close() {
      handlers.clear();
      await subscriber.quit().catch(() => undefined);
    },
  };
}
