// Two nodes sharing one database and one Redis: a session revoked on one node stops
// working on the other at once, although the other had it cached.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { createTestDatabase } from './db.ts';

// Runs wherever REDIS_URL is set: CI always sets it (.ci/run).
describe.runIf(Boolean(process.env.REDIS_URL))('two nodes over Redis', () => {
  it('propagates logout and profile changes to the other node’s session cache', async () => {
    const t = await createTestDatabase({ RATE_LIMIT_ENABLED: 'false' });
    const redisA = new Redis(process.env.REDIS_URL!);
    const redisB = new Redis(process.env.REDIS_URL!);
    const a = await buildApp({ config: t.config, database: t, logger: t.logger, redis: redisA });
    const b = await buildApp({ config: t.config, database: t, logger: t.logger, redis: redisB });
    try {
      const registered = await a.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email: 'node@example.com', username: 'two_nodes', password: 'long enough pw' },
      });
      const token = registered.json<{ token: string }>().token;
      const authorization = `Bearer ${token}`;
      expect((await b.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization } })).statusCode).toBe(200);

      await a.inject({ method: 'PATCH', url: '/api/v1/me', headers: { authorization }, payload: { display_name: 'Seen on B' } });
      await expect
        .poll(async () => (await b.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization } })).json<{ display_name: string }>().display_name)
        .toBe('Seen on B');

      await a.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { authorization } });
      await expect.poll(async () => (await b.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization } })).statusCode).toBe(401);
    } finally {
      await a.close();
      await b.close();
      redisA.disconnect();
      redisB.disconnect();
      await t.close();
    }
  });
});
