// The job queue on real PostgreSQL: schedules as configured, enqueue inside a transaction,
// retries with backoff, one running job across two nodes, graceful stop, and the sweeps
// doing their work when run through the queue.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../config.ts';
import { useTestDatabase } from '../../test/db.ts';
import { JOBS, scheduledJobs, type JobDefinition } from './definitions.ts';
import { enqueueJob } from './queue.ts';
import { startJobWorker, type JobWorker } from './worker.ts';

const t = useTestDatabase();
const workers: JobWorker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(1000)));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function start(definitions?: JobDefinition[], env: Record<string, string> = {}): Promise<JobWorker> {
  const config = loadConfig({ DATABASE_URL: t.url, LOG_LEVEL: 'silent', ...env });
  const worker = await startJobWorker({
    config,
    logger: t.logger,
    database: t,
    applicationName: 'cgraph-test-worker',
    pollingIntervalSeconds: 0.5,
    ...(definitions ? { definitions } : {}),
  });
  workers.push(worker);
  return worker;
}

function job(name: string, run: JobDefinition['run'], overrides: Partial<JobDefinition> = {}): JobDefinition {
  return { name, policy: 'standard', retryLimit: 0, retryDelaySeconds: 0, retryBackoff: false, expireInSeconds: 60, run, ...overrides };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}

async function jobState(name: string, id: string): Promise<{ state: string; retry_count: number }> {
  const { rows } = await t.pool.query<{ state: string; retry_count: number }>(
    'SELECT state, retry_count FROM pgboss.job WHERE name = $1 AND id = $2',
    [name, id],
  );
  return rows[0]!;
}

describe('scheduled jobs', () => {
  it('defines the daily backup at 03:00 UTC and the sweeps by default', () => {
    const jobs = scheduledJobs(loadConfig({}));
    expect(Object.fromEntries(jobs.map((j) => [j.name, j.schedule]))).toEqual({
      [JOBS.backup]: { cron: '0 3 * * *', timeZone: 'UTC' },
      [JOBS.sessionSweep]: { cron: '*/15 * * * *', timeZone: 'UTC' },
      [JOBS.idleSweep]: { cron: '* * * * *', timeZone: 'UTC' },
      [JOBS.nonceSweep]: { cron: '7 * * * *', timeZone: 'UTC' },
      [JOBS.gatewaySweep]: { cron: '*/5 * * * *', timeZone: 'UTC' },
      [JOBS.uploadSweep]: { cron: '23 * * * *', timeZone: 'UTC' },
      [JOBS.groupInviteSweep]: { cron: '41 * * * *', timeZone: 'UTC' },
    });
    // Scheduled jobs are stately; queue-only jobs (one per @everyone message) are not.
    expect(jobs.filter((j) => j.schedule).every((j) => j.policy === 'stately')).toBe(true);
    const fanOut = jobs.find((j) => j.name === JOBS.groupEveryoneMention);
    expect(fanOut?.policy).toBe('standard');
    expect(fanOut?.schedule).toBeUndefined();
  });

  it('registers the schedules in the queue with the configured cron and time zone', async () => {
    const worker = await start(undefined, { BACKUP_SCHEDULE: '30 2 * * *', BACKUP_TIME_ZONE: 'Europe/Berlin' });
    const schedules = await worker.boss.getSchedules();
    const backup = schedules.find((s) => s.name === JOBS.backup);
    expect(backup).toMatchObject({ cron: '30 2 * * *', options: { tz: 'Europe/Berlin' } });
    expect(schedules.map((s) => s.name).sort()).toEqual([JOBS.backup, JOBS.idleSweep, JOBS.sessionSweep, JOBS.nonceSweep, JOBS.gatewaySweep, JOBS.uploadSweep, JOBS.groupInviteSweep].sort());
    const queue = await worker.boss.getQueue(JOBS.backup);
    expect(queue).toMatchObject({ policy: 'stately', retryLimit: 3, retryBackoff: true });
    await worker.stop(1000);

    // BACKUP_SCHEDULE=off removes the backup's schedule on the next start.
    const off = await start(undefined, { BACKUP_SCHEDULE: 'off' });
    expect((await off.boss.getSchedules()).map((s) => s.name)).not.toContain(JOBS.backup);
    await off.stop(1000);
  });

  it('runs the idle sweep through the queue (one UPDATE of users inactive past the threshold)', async () => {
    await sql`INSERT INTO users (id, username, email, password_hash, status, last_active_at) VALUES
      (gen_random_uuid(), 'sleepy', 'sleepy@example.com', 'x', 'online', now() - interval '2 hours'),
      (gen_random_uuid(), 'awake', 'awake@example.com', 'x', 'online', now())`.execute(t.db);
    const worker = await start();
    const id = await enqueueJob(t.db, JOBS.idleSweep);
    expect(id).not.toBeNull();
    await until(async () => (await jobState(JOBS.idleSweep, id!)).state === 'completed');
    const { rows } = await t.pool.query<{ username: string; status: string }>(
      "SELECT username, status FROM users WHERE username IN ('sleepy', 'awake') ORDER BY username",
    );
    expect(rows).toEqual([
      { username: 'awake', status: 'online' },
      { username: 'sleepy', status: 'idle' },
    ]);
    await worker.stop(1000);
  });
});

describe('the queue', () => {
  it('enqueues inside the caller transaction: a rollback enqueues nothing', async () => {
    await start([job('test.tx', async () => undefined)]).then((w) => w.stop(1000));
    const count = async () =>
      (await t.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'test.tx'")).rows[0]!.n;

    await expect(
      t.db.transaction().execute(async (trx) => {
        await enqueueJob(trx, 'test.tx', { n: 1 });
        throw new Error('request failed');
      }),
    ).rejects.toThrow('request failed');
    expect(await count()).toBe(0);

    await t.db.transaction().execute(async (trx) => {
      expect(await enqueueJob(trx, 'test.tx', { n: 2 })).toMatch(/^[0-9a-f-]{36}$/);
    });
    expect(await count()).toBe(1);
  });

  it('several nodes starting at once declare the same new queues without deadlocking', async () => {
    const defs = ['a', 'b', 'c', 'd'].map((x) => job(`test.race-${x}`, async () => undefined, { policy: 'stately' }));
    const nodes = await Promise.all([start(defs), start(defs), start(defs)]);
    expect((await nodes[0].boss.getQueues()).map((q) => q.name)).toEqual(expect.arrayContaining(defs.map((d) => d.name)));
    await Promise.all(nodes.map((n) => n.stop(1000)));
  });

  it('retries a failing job with exponential backoff', async () => {
    const attempts: number[] = [];
    await start([
      job(
        'test.flaky',
        async () => {
          attempts.push(Date.now());
          if (attempts.length < 3) throw new Error(`attempt ${attempts.length} fails`);
        },
        { retryLimit: 2, retryDelaySeconds: 1, retryBackoff: true },
      ),
    ]);
    const id = (await enqueueJob(t.db, 'test.flaky'))!;
    await until(async () => (await jobState('test.flaky', id)).state === 'completed');
    expect(attempts).toHaveLength(3);
    const [first, second] = [attempts[1]! - attempts[0]!, attempts[2]! - attempts[1]!];
    // delay × 2^n / 2 × (1 + jitter): 1–2 s, then 2–4 s (plus polling).
    expect(first).toBeGreaterThanOrEqual(950);
    expect(second).toBeGreaterThanOrEqual(1950);
    expect((await jobState('test.flaky', id)).retry_count).toBe(2);
  });

  it('runs a stately job once at a time across two nodes, and keeps at most one waiting', async () => {
    let running = 0;
    let most = 0;
    let done = 0;
    const exclusive = job(
      'test.exclusive',
      async () => {
        running++;
        most = Math.max(most, running);
        await sleep(400);
        running--;
        done++;
      },
      { policy: 'stately' },
    );
    // Queue first, then two "nodes" (two workers with their own pools) race for it.
    await start([exclusive]).then((w) => w.stop(1000));
    expect(await enqueueJob(t.db, 'test.exclusive')).not.toBeNull();
    expect(await enqueueJob(t.db, 'test.exclusive')).toBeNull(); // one already waiting
    await Promise.all([start([exclusive]), start([exclusive])]);
    await until(() => running === 1);
    expect(await enqueueJob(t.db, 'test.exclusive')).not.toBeNull(); // one running, one may wait
    expect(await enqueueJob(t.db, 'test.exclusive')).toBeNull();
    await until(() => done === 2);
    await sleep(600); // both nodes keep polling: nothing else runs
    expect(done).toBe(2);
    expect(most).toBe(1);
  });

  it('stopping lets a running job finish; one that outlasts the timeout is failed and retried later', async () => {
    let finished = 0;
    const slow = job(
      'test.slow',
      async (_ctx, data) => {
        await sleep(Number(data.ms));
        finished++;
      },
      { retryLimit: 1, retryDelaySeconds: 60 },
    );
    const worker = await start([slow]);
    const id = (await enqueueJob(t.db, 'test.slow', { ms: 800 }))!;
    await until(async () => (await jobState('test.slow', id)).state === 'active');
    await worker.stop(5000);
    expect(finished).toBe(1);
    expect((await jobState('test.slow', id)).state).toBe('completed');

    const again = await start([slow]);
    const long = (await enqueueJob(t.db, 'test.slow', { ms: 4000 }))!;
    await until(async () => (await jobState('test.slow', long)).state === 'active');
    await again.stop(1000);
    expect((await jobState('test.slow', long)).state).toBe('retry');
  });
});

describe('cgraph worker', () => {
  it('runs the worker alone and stops gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs'), 'worker'], {
      env: { ...process.env, NODE_ENV: 'development', DATABASE_URL: t.url, TEST_DATABASE_URL: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const connected = async () =>
      (
        await t.pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'cgraph-worker'",
        )
      ).rows[0]!.n > 0;
    await until(connected, 20_000);
    await until(() => stdout.includes('job worker started'), 20_000);
    const { rows } = await t.pool.query<{ cron: string }>("SELECT cron FROM pgboss.schedule WHERE name = 'backups.daily'");
    expect(rows).toEqual([{ cron: '0 3 * * *' }]);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toContain('stopping the job worker');
    // A backend leaves pg_stat_activity a moment after its client hung up.
    await until(async () => !(await connected()), 5000);
  });
});
