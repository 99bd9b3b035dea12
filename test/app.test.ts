import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.ts';
import { createPool } from '../src/db/database.ts';
import { useTestDatabase } from './db.ts';

describe('operations endpoints', () => {
  const t = useTestDatabase();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp({ config: t.config, database: t, logger: t.logger });
  });
  afterAll(() => app.close());

  it('GET /health is always ok', async () => {
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /ready is 200 when the database answers and 503 when it does not', async () => {
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    const deadPool = createPool('postgres://postgres@127.0.0.1:1/none', { ...t.config.database, poolSize: 1 });
    const broken = await buildApp({ config: t.config, database: { ...t, pool: deadPool }, logger: t.logger });
    try {
      const res = await broken.inject({ method: 'GET', url: '/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ error: { code: 'database_unavailable' } });
    } finally {
      await broken.close();
      await deadPool.end();
    }
  });
});
