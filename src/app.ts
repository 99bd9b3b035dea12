// buildApp: the Fastify application as a plugin tree. It never listens (tests use
// inject); src/server.ts does. Shared pieces first (errors, OpenAPI, metrics, rate limits,
// auth), then one plugin per module under /api/v1.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { createEventBus, type EventBus } from './events/bus.ts';
import { registerAuth } from './http/auth.ts';
import { registerErrorHandling } from './http/errors.ts';
import { registerMetrics } from './http/metrics.ts';
import { registerOpenApi } from './http/openapi.ts';
import { registerRateLimits } from './http/rate-limit.ts';
import { errorBody } from './http/schemas.ts';
import type { Logger } from './lib/logger.ts';
import { accountsRoutes } from './modules/accounts/routes.ts';
import { friendsRoutes } from './modules/friends/routes.ts';
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
  /** The domain-event bus; built here (relayed through `redis` when given) unless passed. */
  events?: EventBus;
}

export async function buildApp({ config, database, logger, redis, events: givenEvents }: AppDeps): Promise<FastifyInstance> {
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
  const events = givenEvents ?? createEventBus(logger, redis);
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
  await app.register(
    async (api) => {
      await api.register(presenceTracking({ db: database.db, logger }));
      await api.register(accountsRoutes(deps));
      await api.register(friendsRoutes(deps));
      await api.register(messagingRoutes(deps));
      await api.register(notificationsRoutes(deps));
      await api.register(walletRoutes({ ...deps, config }));
    },
    { prefix: '/api/v1' },
  );

  await app.ready();
  return app;
}
