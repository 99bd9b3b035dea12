// The `cgraph` command as users run it: a real child process, real exit codes, and the
// one-line messages promised for bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyDatabase, type TestDatabase } from './db.ts';
import { cgraph } from './run-cli.ts';

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe('bad input gives one clear line and a non-zero exit', () => {
  it.each([
    [['frobnicate'], {}, /unknown command 'frobnicate'/],
    [['db', 'rollback', '--bogus'], {}, /unknown option '--bogus'/],
    [['db', 'rollback', '--step', 'two'], {}, /--step.*must be a whole number/],
    [['db', 'gen'], {}, /missing required argument 'name'/],
    [['db', 'status'], { DATABASE_URL: 'not a url' }, /invalid configuration: DATABASE_URL must be a postgres:\/\//],
    [['db', 'status'], { POOL_SIZE: 'lots' }, /invalid configuration: POOL_SIZE/],
    [['db', 'status'], { NODE_ENV: 'production' }, /DATABASE_URL is not set/],
    [['db', 'status'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/cgraph' }, /cannot reach the database at postgres:\/\/postgres@127\.0\.0\.1:1\/cgraph/],
  ] as const)('cgraph %j', async (args, env, message) => {
    const run = await cgraph([...args], env);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help')).length).toBe(1);
    noStackTrace(run.stderr);
  });
});

describe('database commands against a real database', () => {
  let t: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await createEmptyDatabase();
    env = { DATABASE_URL: t.url, CGRAPH_ADMIN_PASSWORD: 'a-strong-admin-password' };
  });
  afterAll(() => t.close());

  it('migrates, reports status, rolls back with --step and migrates again', async () => {
    const migrate = await cgraph(['db', 'migrate'], env);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/migrated \d+_create_users/);

    const status = await cgraph(['db', 'status'], env);
    expect(status.stdout.trim().split('\n').every((line) => line.startsWith('up  '))).toBe(true);

    const back = await cgraph(['db', 'rollback', '--step', '2'], env);
    expect(back.code).toBe(0);
    expect(back.stdout.trim().split('\n')).toHaveLength(2);
    const after = await cgraph(['db', 'status'], env);
    expect(after.stdout.trim().split('\n').filter((line) => line.startsWith('down'))).toHaveLength(2);

    const tooFar = await cgraph(['db', 'rollback', '--step', '999'], env);
    expect(tooFar.code).toBe(1);
    expect(tooFar.stderr).toMatch(/^cgraph: cannot roll back 999 migrations: only \d+ are applied\n$/);

    expect((await cgraph(['db', 'migrate'], env)).stdout).toMatch(/migrated/);
    expect((await cgraph(['db', 'migrate'], env)).stdout).toBe('already up to date\n');
  });

  it('seeds the admin and the default forums once, however often it runs', async () => {
    const first = await cgraph(['db', 'seed'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('created admin user');
    expect(first.stdout).toContain('created forums: general, announcements, help');
    const second = await cgraph(['db', 'seed'], env);
    expect(second.stdout).toContain('admin user exists');
    expect(second.stdout).toContain('default forums exist');
    const { rows } = await t.pool.query<{ users: number; forums: number }>(
      'SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM forums)::int AS forums',
    );
    expect(rows[0]).toEqual({ users: 1, forums: 3 });
  });

  it('refuses to seed outside development without an admin password', async () => {
    const run = await cgraph(['db', 'seed'], { DATABASE_URL: t.url, NODE_ENV: 'production', DATABASE_SSL: 'disable' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/CGRAPH_ADMIN_PASSWORD is not set/);
  });

  it('explains named queries and SQL, and rejects unknown names', async () => {
    const named = await cgraph(['db', 'explain', 'forum_posts.top'], env);
    expect(named.code).toBe(0);
    expect(named.stdout).toMatch(/Execution Time/);
    expect(named.stdout).toMatch(/forum_posts/);
    const raw = await cgraph(['db', 'explain', 'SELECT count(*) FROM users'], env);
    expect(raw.stdout).toMatch(/Aggregate/);
    const unknown = await cgraph(['db', 'explain', 'no_such_query'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown query "no_such_query"/);
  });

  it('never lets explain change data, even for a write or a smuggled second statement', async () => {
    await cgraph(['db', 'explain', "UPDATE users SET display_name = 'changed'"], env);
    const smuggled = await cgraph(['db', 'explain', 'SELECT 1; DELETE FROM users'], env);
    expect(smuggled.code).toBe(1);
    const { rows } = await t.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM users WHERE display_name IS DISTINCT FROM 'changed'",
    );
    expect(rows[0]?.n).toBe(1);
  });

  it('refuses db reset in production without --force, and resets with it', async () => {
    const prod = { DATABASE_URL: t.url, NODE_ENV: 'production', DATABASE_SSL: 'disable' };
    const refused = await cgraph(['db', 'reset'], prod);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to reset a production database/);
    const { rows } = await t.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    expect(rows[0]?.n).toBe(1);
    const forced = await cgraph(['db', 'reset', '--force'], prod);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/recreated database/);
  });
});
