// The embedded server as `npm start` uses it on a machine without DATABASE_URL: a data
// directory that is created once, reused, joined by a second process, and stopped by
// its owner only.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { cgraph } from '../../test/run-cli.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded.ts';

async function query(url: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL', { timeout: 120_000 }, () => {
  const started: EmbeddedServer[] = [];
  let dataDir: string;
  afterAll(async () => {
    for (const server of started.reverse()) await server.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('initialises once, is joined by a second user of the same directory, and keeps data across restarts', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'cgraph-embedded-test-'));
    const first = await startEmbeddedPostgres(dataDir, 54400 + Math.floor(Math.random() * 500));
    started.push(first);
    expect(first.owned).toBe(true);
    await query(first.adminUrl, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES (\'still here\')');

    // A second user of the same directory joins the running server instead of starting another.
    const second = await startEmbeddedPostgres(dataDir, first.port + 1);
    expect(second.owned).toBe(false);
    expect(second.port).toBe(first.port);
    await second.stop(); // not the owner: PostgreSQL keeps running
    expect(await query(first.adminUrl, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);

    // A separate `cgraph` process on the same data directory uses the running server too.
    const status = await cgraph(['db', 'migrate'], { CGRAPH_DATA_DIR: dataDir, CGRAPH_EMBEDDED_PORT: String(first.port + 2) });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(await query(first.adminUrl, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);

    await first.stop();
    await expect(query(first.adminUrl, 'SELECT 1')).rejects.toThrow();

    // Restart: the same data, no second initdb.
    const again = await startEmbeddedPostgres(dataDir, first.port);
    started.push(again);
    expect(again.owned).toBe(true);
    expect(await query(again.adminUrl, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
    const tables = await query(again.urlFor('cgraph_dev'), "SELECT 1 FROM pg_tables WHERE tablename = 'users'");
    expect(tables).toHaveLength(1);
  });

  it('starts without DATABASE_URL from the command line and stops the server it started', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cgraph-embedded-cli-'));
    try {
      const run = await cgraph(['db', 'status'], { CGRAPH_DATA_DIR: dir, CGRAPH_EMBEDDED_PORT: '54990' });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^down {2}\d+_extensions_and_functions$/m);
      // The command owned the server, so it stopped it on exit.
      const { existsSync } = await import('node:fs');
      expect(existsSync(path.join(dir, 'pg15', 'postmaster.pid'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
