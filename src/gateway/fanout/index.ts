// Picks the fan-out adapter: GATEWAY_FANOUT, else Redis when REDIS_URL is set, else
// in-process (a single node).
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from '../../lib/logger.ts';
import { createInProcessFanout, type InProcessHub } from './in-process.ts';
import { createPostgresFanout } from './postgres.ts';
import { createRedisFanout } from './redis.ts';
import type { Fanout, FanoutKind } from './transport.ts';

export type { Fanout, FanoutKind } from './transport.ts';

export interface FanoutDeps {
  pool: pg.Pool;
  logger: Logger;
  redis?: Redis | undefined;
  hub?: InProcessHub | undefined;
}

export function chooseFanoutKind(configured: FanoutKind | undefined, hasRedis: boolean): FanoutKind {
  return configured ?? (hasRedis ? 'redis' : 'in-process');
}

export function createFanout(kind: FanoutKind, { pool, logger, redis, hub }: FanoutDeps): Fanout {
  switch (kind) {
    case 'redis':
      if (!redis) throw new Error('GATEWAY_FANOUT=redis needs REDIS_URL');
      return createRedisFanout(redis, logger);
    case 'postgres':
      return createPostgresFanout(pool, logger);
    case 'in-process':
      return createInProcessFanout(hub, (error) => logger.error({ err: error }, 'fan-out handler failed'));
  }
}
