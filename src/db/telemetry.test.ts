import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/db.ts';
import type { Logger } from '../lib/logger.ts';
import { createKysely, createPool } from './database.ts';
import { DbTelemetry, poolStats } from './telemetry.ts';

function recordingLogger(): { logger: Logger; warnings: Array<{ data: Record<string, unknown>; message: string }> } {
  const warnings: Array<{ data: Record<string, unknown>; message: string }> = [];
  const logger = { warn: (data: Record<string, unknown>, message: string) => warnings.push({ data, message }) };
  return { logger: logger as unknown as Logger, warnings };
}

describe('pool telemetry (seed: "Connection Pool Exhausted")', () => {
  it('warns with the query when a checkout waits longer than the threshold, and reports pool counts', async () => {
    const t = await createTestDatabase();
    const pool = createPool(t.url, { ...t.config.database, poolSize: 1 });
    try {
      const { logger, warnings } = recordingLogger();
      const telemetry = new DbTelemetry(logger, { checkoutWarnMs: 100, slowQueryMs: 0 });
      telemetry.instrument(pool);
      const waits: number[] = [];
      telemetry.onCheckout((ms) => waits.push(ms));
      const db = createKysely(pool);

      const holder = await pool.connect();
      const waiting = db.selectFrom('users').select('id').where('username', '=', 'nobody').execute();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(poolStats(pool)).toMatchObject({ size: 1, max: 1, inUse: 1, waiting: 1 });
      await new Promise((resolve) => setTimeout(resolve, 150));
      holder.release();
      await waiting;

      const slow = warnings.filter((w) => w.message.startsWith('slow database checkout'));
      expect(slow).toHaveLength(1);
      expect(slow[0]!.data.sql).toMatch(/select "id" from "users" where "username" = \$1/);
      expect(slow[0]!.data.checkoutWaitMs).toBeGreaterThanOrEqual(150);
      expect(waits.some((ms) => ms >= 150)).toBe(true);
      expect(poolStats(pool)).toMatchObject({ inUse: 0, idle: 1, waiting: 0 });
    } finally {
      await pool.end();
      await t.close();
    }
  });

  it('logs slow queries without their parameters and reports every query to listeners', async () => {
    const t = await createTestDatabase();
    const pool = createPool(t.url, t.config.database);
    try {
      const { logger, warnings } = recordingLogger();
      const telemetry = new DbTelemetry(logger, { checkoutWarnMs: 1000, slowQueryMs: 50 });
      telemetry.instrument(pool);
      const seen: string[] = [];
      telemetry.onQuery((event) => seen.push(event.sql));
      const db = createKysely(pool);
      await db.selectNoFrom((eb) => eb.fn<number>('pg_sleep', [eb.val(0.08)]).as('slept')).execute();
      await db.selectFrom('users').select('id').where('email', '=', 'secret@example.com').execute();
      const slow = warnings.filter((w) => w.message === 'slow query');
      expect(slow).toHaveLength(1);
      expect(slow[0]!.data.sql).toContain('pg_sleep');
      expect(JSON.stringify(warnings)).not.toContain('secret@example.com');
      expect(seen).toHaveLength(2);
    } finally {
      await pool.end();
      await t.close();
    }
  });
});
