// buildApp: the Fastify application as a plugin tree. It never listens (tests use
// inject); src/server.ts does. Shared pieces first (errors, OpenAPI, metrics, rate limits,
// auth), then one plugin per module under /api/v1.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { createEventBus, type EventBus } from './events/bus.ts';
import type { InProcessHub } from './gateway/fanout/in-process.ts';
import { buildFanout, registerGateway } from './gateway/index.ts';
import { registerAuth } from './http/auth.ts';
import { registerErrorHandling } from './http/errors.ts';
import { registerMetrics } from './http/metrics.ts';
import { registerOpenApi } from './http/openapi.ts';
import { registerRateLimits } from './http/rate-limit.ts';
import { errorBody } from './http/schemas.ts';
import type { Logger } from './lib/logger.ts';
import { accountsRoutes } from './modules/accounts/routes.ts';
import { forumsRoutes } from './modules/forums/routes.ts';
import { friendsRoutes } from './modules/friends/routes.ts';
import { mayReadChannelMessage } from './modules/groups/channel-messages.ts';
import { groupsRoutes } from './modules/groups/routes.ts';
import { attachmentsRoutes } from './modules/attachments/routes.ts';
import { createAttachmentStorage } from './modules/attachments/storage.ts';
import { messagingRoutes } from './modules/messaging/routes.ts';
import { notificationsRoutes } from './modules/notifications/routes.ts';
import { presenceTracking } from './modules/presence/activity.ts';
import { SessionAuthenticator } from './modules/sessions/authenticator.ts';
import { walletRoutes } from './modules/wallet/routes.ts';
import { z } from 'zod';

export interface RouteEntry {
  method: string;
  url: string;
  hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    routeList: RouteEntry[];
  }
}

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
  /** Shared by every node for rate-limit counters and event relay; optional. */
  redis?: Redis;
  /** The domain-event bus; built here (relayed through the gateway's fan-out) unless passed. */
  events?: EventBus;
  /** With GATEWAY_FANOUT=in-process: apps given the same hub act as nodes of one cluster (tests). */
  fanoutHub?: InProcessHub;
}

export async function buildApp({ config, database, logger, redis, events: givenEvents, fanoutHub }: AppDeps): Promise<FastifyInstance> {
  // Typed as Fastify's logger interface so the instance is a plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    routerOptions: { maxParamLength: 200 },
  });
  // Every route as registered, so a test can hold the OpenAPI document to all of them.
  const routes: RouteEntry[] = [];
  app.decorate('routeList', routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, hidden: route.schema?.hide === true });
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  await registerOpenApi(app);
  registerMetrics(app, database);
  const limits = await registerRateLimits(app, config, redis);
  // One cross-node transport (GATEWAY_FANOUT: redis, postgres or in-process) carries both
  // the domain events and the gateway's room events (docs/gateway.md).
  const fanout = buildFanout(config, database, logger, redis, fanoutHub);
  const events = givenEvents ?? createEventBus(logger, fanout);
  const authenticator = new SessionAuthenticator(database.db, config.sessions, { cacheTtlMs: config.sessions.cacheTtlMs }, events);
  app.addHook('onClose', async () => {
    authenticator.close();
    if (!givenEvents) await events.close();
  });
  const requireAuth = registerAuth(app, authenticator);

  app.get('/health', { schema: { tags: ['operations'], summary: 'Liveness', response: { 200: z.object({ status: z.literal('ok') }) } } }, () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: 200 when the database answers, else 503',
        response: { 200: z.object({ status: z.literal('ready') }), 503: errorBody },
      },
    },
    async (_request, reply) => {
      try {
        await database.pool.query('SELECT 1');
        return { status: 'ready' as const };
      } catch {
        return reply.code(503).send({ error: { code: 'database_unavailable', message: 'the database does not answer' } });
      }
    },
  );

  const deps = { db: database.db, events, sessions: config.sessions, requireAuth, limits };
  // Uploads: local folder or S3 bucket (config.attachments), shared by DMs and channels.
  const storage = await createAttachmentStorage(config.attachments);
  app.addHook('onClose', () => storage.close());
  await app.register(
    async (api) => {
      await api.register(presenceTracking({ db: database.db, logger }));
      await api.register(accountsRoutes(deps));
      await api.register(friendsRoutes(deps));
      await api.register(forumsRoutes(deps));
      await api.register(messagingRoutes({ ...deps, config, storage }));
      await api.register(attachmentsRoutes({ ...deps, config, storage, access: { channelMessage: mayReadChannelMessage } }));
      await api.register(groupsRoutes({ ...deps, config, storage }));
      await api.register(notificationsRoutes(deps));
      await api.register(walletRoutes({ ...deps, config }));
    },
    { prefix: '/api/v1' },
  );

  await registerGateway(app, { config, database, logger, events, fanout, authenticator });

  await app.ready();
  return app;
}
