// Rate limits on sign-in endpoints: per account and per IP, 429 with Retry-After; with a
// Redis store the counters are shared by every node (two apps, one Redis).
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

const LIMITS = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_AUTH_PER_IP: '6', RATE_LIMIT_AUTH_PER_ACCOUNT: '3', RATE_LIMIT_WINDOW: '1m' };

const login = (app: FastifyInstance, name: string, ip = '203.0.113.7') =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ip, payload: { login: name, password: 'wrong password' } });

describe('sign-in rate limits (in-process store)', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('limits attempts per account, then per IP, with 429 and Retry-After', async () => {
    t = await createTestDatabase(LIMITS);
    app = await buildApp({ config: t.config, database: t, logger: t.logger });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await login(app, 'victim')).statusCode);
    expect(codes).toEqual([401, 401, 401, 429]);
    const limited = await login(app, 'victim');
    expect(limited.json().error.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another account from another IP is not affected.
    expect((await login(app, 'victim_two', '198.51.100.1')).statusCode).toBe(401);
    // The same IP trying other accounts hits the per-IP limit (6 per window).
    const ipCodes = [];
    for (let i = 0; i < 3; i++) ipCodes.push((await login(app, `spray_${i}`)).statusCode);
    expect(ipCodes.at(-1)).toBe(429);
  });

  it('is off when RATE_LIMIT_ENABLED=false (benchmarks)', async () => {
    const t2 = await createTestDatabase({ ...LIMITS, RATE_LIMIT_ENABLED: 'false' });
    const app2 = await buildApp({ config: t2.config, database: t2, logger: t2.logger });
    try {
      const codes = [];
      for (let i = 0; i < 8; i++) codes.push((await login(app2, 'victim')).statusCode);
      expect(codes.every((c) => c === 401)).toBe(true);
    } finally {
      await app2.close();
      await t2.close();
    }
  });
});

// Runs wherever REDIS_URL is set: CI always sets it (.ci/run).
describe.runIf(Boolean(process.env.REDIS_URL))('sign-in rate limits shared through Redis', () => {
  it('counts attempts on two nodes against one limit', async () => {
    const t = await createTestDatabase(LIMITS);
    const redisA = new Redis(process.env.REDIS_URL!);
    const redisB = new Redis(process.env.REDIS_URL!);
    const nodeA = await buildApp({ config: t.config, database: t, logger: t.logger, redis: redisA });
    const nodeB = await buildApp({ config: t.config, database: t, logger: t.logger, redis: redisB });
    try {
      const account = `shared_${randomBytes(4).toString('hex')}`;
      const ip = `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.9`;
      const codes = [
        (await login(nodeA, account, ip)).statusCode,
        (await login(nodeB, account, ip)).statusCode,
        (await login(nodeA, account, ip)).statusCode,
        (await login(nodeB, account, ip)).statusCode,
      ];
      expect(codes).toEqual([401, 401, 401, 429]);
    } finally {
      await nodeA.close();
      await nodeB.close();
      redisA.disconnect();
      redisB.disconnect();
      await t.close();
    }
  });
});
