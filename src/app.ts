// buildApp: the Fastify application as a plugin tree. It never listens (tests use
// inject); src/server.ts does. Modules register their routes here.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { Logger } from './lib/logger.ts';

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
}

export async function buildApp({ database, logger }: AppDeps): Promise<FastifyInstance> {
  // Typed as Fastify's logger interface so the instance is a plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: 1024 * 1024,
  });

  app.get('/health', () => ({ status: 'ok' }));

  app.get('/ready', async (_request, reply) => {
    try {
      await database.pool.query('SELECT 1');
      return { status: 'ready' };
    } catch {
      return reply
        .code(503)
        .send({ error: { code: 'database_unavailable', message: 'the database does not answer' } });
    }
  });

  await app.ready();
  return app;
}
