// An app over a per-file test database, for inject()-based API tests.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../src/app.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestApp {
  app: FastifyInstance;
  t: TestDatabase;
  /** inject with an optional bearer token. */
  call(options: InjectOptions & { token?: string }): Promise<LightMyRequestResponse>;
  /** registers a user and returns its token and user body. */
  register(username: string, extra?: Record<string, unknown>): Promise<{ token: string; user: { id: string; username: string } }>;
}

export function useTestApp(overrides: Record<string, string> = {}): TestApp {
  const handle = {} as TestApp;
  beforeAll(async () => {
    const t = await createTestDatabase({ RATE_LIMIT_ENABLED: 'false', PUBLIC_URL: 'http://localhost:4000', ...overrides });
    const app = await buildApp({ config: t.config, database: t, logger: t.logger });
    handle.app = app;
    handle.t = t;
    handle.call = ({ token, headers, ...options }) =>
      app.inject({ ...options, headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
    handle.register = async (username, extra = {}) => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email: `${username}@example.com`, username, password: 'correct horse battery', ...extra },
      });
      if (res.statusCode !== 201) throw new Error(`register ${username}: ${res.statusCode} ${res.body}`);
      return res.json<{ token: string; user: { id: string; username: string } }>();
    };
  });
  afterAll(async () => {
    await handle.app?.close();
    await handle.t?.close();
  });
  return handle;
}
