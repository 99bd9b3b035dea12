// The adapters on their own: NOTIFY chunking, and each transport carrying a payload
// between two instances (two "nodes") including one over PostgreSQL's 8000-byte limit.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import { createLogger } from '../../lib/logger.ts';
import { createInProcessFanout, InProcessHub } from './in-process.ts';
import { createPostgresFanout, encodeNotify, NOTIFY_MAX_BYTES, NotifyDecoder } from './postgres.ts';
import { createRedisFanout } from './redis.ts';
import type { Fanout } from './transport.ts';

const t = useTestDatabase();
const logger = createLogger('silent');

describe('NOTIFY framing', () => {
  it('sends small payloads whole and cuts big ones into frames under the limit that join back', () => {
    expect(encodeNotify('{"a":1}')).toEqual(['={"a":1}']);
    const big = JSON.stringify({ content: '€😀'.repeat(3000) });
    const frames = encodeNotify(big);
    expect(frames.length).toBeGreaterThan(2);
    for (const f of frames) expect(Buffer.byteLength(f)).toBeLessThanOrEqual(NOTIFY_MAX_BYTES);
    const decoder = new NotifyDecoder();
    const shuffled = [...frames].reverse();
    const results = shuffled.map((f) => decoder.accept(f));
    expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
    expect(results.at(-1)).toBe(big);
    expect(decoder.accept('#nonsense')).toBeUndefined();
  });
});

async function roundTrip(a: Fanout, b: Fanout): Promise<void> {
  const received: string[] = [];
  b.subscribe('cgraph_test_topic', (payload) => received.push(payload));
  a.subscribe('cgraph_test_topic', () => undefined);
  const big = JSON.stringify({ content: '€'.repeat(4000) });
  // Subscriptions settle asynchronously: publish until the first one lands.
  await expect
    .poll(
      () => {
        a.publish('cgraph_test_topic', 'ping');
        return received.includes('ping');
      },
      { timeout: 5000, interval: 100 },
    )
    .toBe(true);
  a.publish('cgraph_test_topic', big);
  await expect.poll(() => received.includes(big), { timeout: 5000 }).toBe(true);
}

describe('adapters', () => {
  it('in-process: apps sharing a hub hear each other', async () => {
    const hub = new InProcessHub();
    const [a, b] = [createInProcessFanout(hub), createInProcessFanout(hub)];
    await roundTrip(a, b);
    await b.close();
    expect(hub.handlers.get('cgraph_test_topic')).toHaveLength(1);
    await a.close();
  });

  it('postgres: LISTEN/NOTIFY between two listeners, chunked above 8000 bytes', async () => {
    const [a, b] = [createPostgresFanout(t.pool, logger), createPostgresFanout(t.pool, logger)];
    try {
      await roundTrip(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it.runIf(Boolean(process.env.REDIS_URL))('redis: pub/sub between two clients', async () => {
    const [ra, rb] = [new Redis(process.env.REDIS_URL!), new Redis(process.env.REDIS_URL!)];
    const [a, b] = [createRedisFanout(ra, logger), createRedisFanout(rb, logger)];
    try {
      await roundTrip(a, b);
    } finally {
      await a.close();
      await b.close();
      ra.disconnect();
      rb.disconnect();
    }
  });
});
