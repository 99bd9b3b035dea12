// Wires the gateway into the app: the fan-out adapter (which the event bus rides on too),
// the room registry, presence, the GET /gateway route, and shutdown.
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../lib/logger.ts';
import type { SessionAuthenticator } from '../modules/sessions/authenticator.ts';
import { chooseFanoutKind, createFanout, type Fanout } from './fanout/index.ts';
import type { InProcessHub } from './fanout/in-process.ts';
import { Gateway } from './gateway.ts';
import { PresenceTracker } from './presence.ts';
import { defaultRoomRegistry } from './group-rooms.ts';
import { gatewayRoutes } from './routes.ts';

declare module 'fastify' {
  interface FastifyInstance {
    gateway: Gateway;
    /** The app's domain-event bus (tests publish through it as a worker would). */
    gatewayEvents: EventBus;
  }
}

export function buildFanout(
  config: Config,
  database: Pick<Database, 'pool'>,
  logger: Logger,
  redis?: Redis,
  hub?: InProcessHub,
): Fanout {
  return createFanout(chooseFanoutKind(config.gateway.fanout, Boolean(redis)), {
    pool: database.pool,
    logger,
    redis,
    hub,
  });
}

export async function registerGateway(
  app: FastifyInstance,
  deps: {
    config: Config;
    database: Database;
    logger: Logger;
    events: EventBus;
    fanout: Fanout;
    authenticator: SessionAuthenticator;
  },
): Promise<Gateway> {
  const { config, database, logger, events, fanout, authenticator } = deps;
  const gateway = new Gateway({
    db: database.db,
    events,
    fanout,
    authenticator,
    config: config.gateway,
    logger,
    registry: defaultRoomRegistry(),
  });
  const presence = new PresenceTracker({
    db: database.db,
    events,
    logger,
    nodeId: gateway.nodeId,
    graceMs: config.presence.offlineGraceMs,
  });
  gateway.presence = presence;
  app.decorate('gateway', gateway);
  app.decorate('gatewayEvents', events);
  app.addHook('onClose', async () => {
    await gateway.close();
    await presence.close().catch((error: unknown) => logger.warn({ err: error }, 'presence shutdown failed'));
    await fanout.close();
  });
  await app.register(gatewayRoutes({ gateway, config: config.gateway }));
  return gateway;
}
