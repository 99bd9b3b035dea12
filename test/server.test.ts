// `cgraph serve` as a process: listens, answers, and on SIGTERM finishes the request in
// flight before exiting 0.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/config.ts';
import { createTestDatabase } from './db.ts';
import { startServe } from './serve.ts';

describe('cgraph serve', () => {
  it('serves, then shuts down gracefully on SIGTERM', { timeout: 60_000 }, async () => {
    const t = await createTestDatabase();
    try {
      const server = await startServe([path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs'), 'serve'], {
        ...process.env,
        NODE_ENV: 'development',
        DATABASE_URL: t.url,
        TEST_DATABASE_URL: '',
      });
      try {
        // A request that takes a while (Argon2 on login) is in flight when the signal lands.
        const inFlight = fetch(`${server.base}/api/v1/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'late@example.com', username: 'late_user', password: 'long enough pw' }),
        });
        await new Promise((resolve) => setTimeout(resolve, 10));
        server.child.kill('SIGTERM');
        expect((await inFlight).status).toBe(201);
        expect(await server.exited).toBe(0);
        expect(server.output()).toContain('shutting down');
        await expect(fetch(`${server.base}/health`)).rejects.toThrow();
      } catch (error) {
        throw new Error(`${(error as Error).message}\nserver output:\n${server.output()}`);
      } finally {
        server.child.kill('SIGKILL');
      }
    } finally {
      await t.close();
    }
  });
});
