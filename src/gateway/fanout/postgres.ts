// PostgreSQL LISTEN/NOTIFY: several nodes, no extra service. One dedicated connection
// listens (a pooled one would be handed to others); publishing goes through the pool.
//
// NOTIFY payloads must stay under 8000 bytes. Domain events and room envelopes are small
// (ids, a message of at most 4000 characters), but a message of 4000 four-byte characters
// is 16 KB, so anything above the limit is cut into numbered chunks sent by ONE statement
// (one transaction: the chunks arrive together, in order) and joined on arrival.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../lib/logger.ts';
import { dispatch, type Fanout } from './transport.ts';

/** Bytes per NOTIFY payload we allow ourselves (PostgreSQL's hard limit is 7999). */
export const NOTIFY_MAX_BYTES = 7900;
const CHUNK_BYTES = NOTIFY_MAX_BYTES - 60; // room for the chunk header
const PARTIAL_TTL_MS = 30_000;

/** Splits a payload into `=payload` or `#id:i:n:part` frames, each within NOTIFY_MAX_BYTES. */
export function encodeNotify(payload: string): string[] {
  if (Buffer.byteLength(payload) <= NOTIFY_MAX_BYTES - 1) return [`=${payload}`];
  const parts: string[] = [];
  let current = '';
  let bytes = 0;
  for (const char of payload) {
    const size = Buffer.byteLength(char);
    if (bytes + size > CHUNK_BYTES) {
      parts.push(current);
      current = '';
      bytes = 0;
    }
    current += char;
    bytes += size;
  }
  if (current !== '') parts.push(current);
  const id = randomUUID();
  return parts.map((part, i) => `#${id}:${i}:${parts.length}:${part}`);
}

/** Reassembles frames made by encodeNotify; returns the payload once complete. */
export class NotifyDecoder {
  private readonly partials = new Map<string, { parts: string[]; received: number; startedAt: number }>();

  accept(frame: string, now = Date.now()): string | undefined {
    if (frame.startsWith('=')) return frame.slice(1);
    const match = /^#([0-9a-f-]{36}):(\d+):(\d+):/.exec(frame);
    if (!match) return undefined;
    const [header, id, index, count] = match as unknown as [string, string, string, string];
    const total = Number(count);
    if (total < 1 || total > 10_000 || Number(index) >= total) return undefined;
    for (const [key, partial] of this.partials)
      if (now - partial.startedAt > PARTIAL_TTL_MS) this.partials.delete(key);
    let partial = this.partials.get(id);
    if (!partial)
      this.partials.set(id, (partial = { parts: new Array<string>(total), received: 0, startedAt: now }));
    if (partial.parts[Number(index)] === undefined) partial.received += 1;
    partial.parts[Number(index)] = frame.slice(header.length);
    if (partial.received < total) return undefined;
    this.partials.delete(id);
    return partial.parts.join('');
  }
}

export function createPostgresFanout(pool: pg.Pool, logger: Logger): Fanout {
  const handlers = new Map<string, Array<(payload: string) => void>>();
  const decoder = new NotifyDecoder();
  let client: pg.Client | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    // The pool's settings, application_name included (a restore looks for serving nodes by it).
    const next = new pg.Client(pool.options);
    next.on('error', (error) => {
      logger.warn({ err: error }, 'fan-out listener lost its connection; reconnecting');
      next.removeAllListeners('notification');
      void next.end().catch(() => undefined);
      if (client === next) client = undefined;
      scheduleReconnect();
    });
    next.on('notification', (message) => {
      const payload = message.payload === undefined ? undefined : decoder.accept(message.payload);
      if (payload !== undefined) {
        dispatch(handlers.get(message.channel), payload, (error) =>
          logger.error({ err: error, channel: message.channel }, 'fan-out handler failed'),
        );
      }
    });
    await next.connect();
    for (const topic of handlers.keys()) await next.query(`LISTEN ${pg.escapeIdentifier(topic)}`);
    if (closed) return void (await next.end().catch(() => undefined));
    client = next;
  };
  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect().catch((error: unknown) => {
        logger.warn({ err: error }, 'fan-out listener could not connect');
        scheduleReconnect();
      });
    }, 1000);
  };
  let connecting: Promise<void> | undefined = connect().catch((error: unknown) => {
    logger.warn({ err: error }, 'fan-out listener could not connect');
    scheduleReconnect();
  });

  return {
    kind: 'postgres',
    publish(topic, payload) {
      pool
        .query(
          'SELECT pg_notify($1, frame) FROM unnest($2::text[]) WITH ORDINALITY AS f(frame, i) ORDER BY i',
          [topic, encodeNotify(payload)],
        )
        .catch((error: unknown) => logger.error({ err: error, topic }, 'fan-out publish failed'));
    },
    subscribe(topic, handler) {
      const list = handlers.get(topic);
      if (list) return void list.push(handler);
      handlers.set(topic, [handler]);
      // LISTEN on the live connection (or the one being opened picks the topic up itself).
      connecting = (connecting ?? Promise.resolve())
        .then(async () => {
          await client?.query(`LISTEN ${pg.escapeIdentifier(topic)}`);
        })
        .catch((error: unknown) => logger.error({ err: error, topic }, 'fan-out listen failed'));
    },
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      await connecting;
      handlers.clear();
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}
