// `cgraph serve` as a process: listens, answers, and on SIGTERM finishes the request in
// flight before exiting 0.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/config.ts';
import { createTestDatabase } from './db.ts';

describe('cgraph serve', () => {
  it('serves, then shuts down gracefully on SIGTERM', { timeout: 60_000 }, async () => {
    const t = await createTestDatabase();
    const port = 45000 + Math.floor(Math.random() * 5000);
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs'), 'serve'], {
      env: { ...process.env, NODE_ENV: 'development', DATABASE_URL: t.url, TEST_DATABASE_URL: '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await expect.poll(() => fetch(`${base}/ready`).then((r) => r.status, () => 0), { timeout: 30_000, interval: 200 }).toBe(200);
      // A request that takes a while (Argon2 on login) is in flight when the signal lands.
      const inFlight = fetch(`${base}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'late@example.com', username: 'late_user', password: 'long enough pw' }),
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
      child.kill('SIGTERM');
      expect((await inFlight).status).toBe(201);
      expect(await exited).toBe(0);
      expect(output).toContain('shutting down');
      await expect(fetch(`${base}/health`)).rejects.toThrow();
    } catch (error) {
      throw new Error(`${(error as Error).message}\nserver output:\n${output}`);
    } finally {
      child.kill('SIGKILL');
      await t.close();
    }
  });
});
