// The compiled build (`npm run build`): which code `cgraph` runs (the build only while it is
// current for the sources), and that the build itself migrates, rolls back and serves.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseEntry, sourceHash, STAMP_FILE } from '../bin/source-hash.mjs';
import { PROJECT_ROOT } from '../src/config.ts';
import { createEmptyDatabase } from './db.ts';
import { runNode } from './run-cli.ts';
import { startServe } from './serve.ts';

describe('which code cgraph runs', () => {
  let root: string;
  const write = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  };
  const stamp = () => write(`dist/${STAMP_FILE}`, `${sourceHash(root)}\n`);

  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'cgraph-entry-'));
    write('tsconfig.json', '{}');
    write('tsconfig.build.json', '{}');
    write('src/cli.ts', 'export {};');
    write('src/db/a.ts', 'export const a = 1;');
    write('src/db/a.test.ts', 'test');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('runs the sources without a build, the build once it is stamped with the sources, and the sources again once one changes', () => {
    expect(chooseEntry(root, {})).toMatchObject({ compiled: false, entry: path.join(root, 'src', 'cli.ts'), why: expect.stringMatching(/no build/) });
    write('dist/cli.js', '');
    expect(chooseEntry(root, {}).compiled).toBe(false); // compiled, but not stamped
    stamp();
    expect(chooseEntry(root, {})).toMatchObject({ compiled: true, entry: path.join(root, 'dist', 'cli.js') });
    expect(chooseEntry(root, { CGRAPH_FROM_SOURCE: '1' }).compiled).toBe(false);

    write('src/db/a.test.ts', 'another test'); // tests are not compiled into the build
    expect(chooseEntry(root, {}).compiled).toBe(true);
    write('src/db/a.ts', 'export const a = 2;');
    expect(chooseEntry(root, {})).toMatchObject({ compiled: false, why: expect.stringMatching(/older than the sources/) });
    stamp();
    write('src/db/b.ts', 'export const b = 1;'); // a new file
    expect(chooseEntry(root, {}).compiled).toBe(false);
    stamp();
    write('tsconfig.build.json', '{"compilerOptions":{}}'); // the build's settings count too
    expect(chooseEntry(root, {}).compiled).toBe(false);
    stamp();
    rmSync(path.join(root, 'src/db/b.ts'));
    expect(chooseEntry(root, {}).compiled).toBe(false);
  });
});

describe('the compiled build', () => {
  // Inside the project (node_modules is found from there), never its dist/: other tests'
  // cgraph processes may be running from that one.
  const out = path.join(PROJECT_ROOT, '.cgraph', `test-build-${process.pid}`);
  const dist = path.join(out, 'dist');
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('builds, then migrates, rolls back and serves from JavaScript alone', { timeout: 240_000 }, async () => {
    const build = await runNode([path.join(PROJECT_ROOT, 'bin', 'build.mjs'), '--out', dist], {}, 180_000);
    expect(build.code, build.stdout + build.stderr).toBe(0);
    expect(chooseEntry(out, {}).compiled).toBe(false); // a build elsewhere never stands in for the project's sources

    const t = await createEmptyDatabase();
    try {
      const env = { DATABASE_URL: t.url, NODE_ENV: 'development', LOG_LEVEL: 'warn' };
      const cli = path.join(dist, 'cli.js');
      const migrate = await runNode([cli, 'db', 'migrate'], env);
      expect(migrate.code, migrate.stderr).toBe(0);
      expect(migrate.stdout).toMatch(/migrated \d+_create_users/);
      const back = await runNode([cli, 'db', 'rollback', '--step', '1'], env);
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout.trim().split('\n')).toHaveLength(1);
      expect((await runNode([cli, 'db', 'migrate'], env)).code).toBe(0);

      const server = await startServe([cli, 'serve'], { ...process.env, ...env, TEST_DATABASE_URL: '', CGRAPH_WORKER: 'false' }, 60_000);
      const { base } = server;
      try {
        const register = await fetch(`${base}/api/v1/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'built@example.com', username: 'built_user', password: 'long enough pw' }),
        });
        expect(register.status, server.output()).toBe(201);
        const { token } = (await register.json()) as { token: string };
        const me = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
        expect(await me.json()).toMatchObject({ username: 'built_user' });
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    } finally {
      await t.close();
    }
  });

  it('refuses to empty a folder that is not an earlier build', async () => {
    const run = await runNode([path.join(PROJECT_ROOT, 'bin', 'build.mjs'), '--out', path.join(PROJECT_ROOT, 'src')], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/refusing to empty/);
  });
});
