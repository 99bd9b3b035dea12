// Pool and query telemetry: the seed's "repo-checkout" handler. Every checkout's wait is
// measured; when it exceeds the threshold we log a warning together with the first query
// that ran on the connection (the query's context, as Ecto's telemetry metadata gives).
// Slow queries are logged too. Parameters are never logged: they may hold secrets.
import type pg from 'pg';
import type { Logger } from '../lib/logger.ts';
import { statementName } from './prepared.ts';

export interface QueryEvent {
  sql: string;
  durationMs: number;
  /** Time the caller waited for a connection, for the first query after a checkout. */
  checkoutWaitMs: number | undefined;
  failed: boolean;
}

export interface PoolStats {
  size: number;
  max: number;
  inUse: number;
  idle: number;
  waiting: number;
}

type Listener = (event: QueryEvent) => void;
type CheckoutListener = (waitMs: number) => void;

const pendingWait = Symbol('cgraph.pendingCheckoutWait');
const instrumented = Symbol('cgraph.instrumented');

type TrackedClient = pg.PoolClient & { [pendingWait]?: number; [instrumented]?: true };

export class DbTelemetry {
  private readonly queryListeners = new Set<Listener>();
  private readonly checkoutListeners = new Set<CheckoutListener>();

  constructor(
    private readonly logger: Logger,
    private readonly options: { checkoutWarnMs: number; slowQueryMs: number },
  ) {}

  onQuery(listener: Listener): () => void {
    this.queryListeners.add(listener);
    return () => this.queryListeners.delete(listener);
  }

  onCheckout(listener: CheckoutListener): () => void {
    this.checkoutListeners.add(listener);
    return () => this.checkoutListeners.delete(listener);
  }

  /**
   * Wraps pool.connect (promise and callback forms: pool.query uses the latter) and each
   * new client's query() (promise and callback forms) so both are measured.
   */
  instrument(pool: pg.Pool): void {
    type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;
    const connect = pool.connect.bind(pool) as (cb?: ConnectCallback) => Promise<pg.PoolClient> | undefined;
    const checkedOut = (client: TrackedClient, started: number) => {
      const waitMs = performance.now() - started;
      client[pendingWait] = waitMs;
      for (const listener of this.checkoutListeners) listener(waitMs);
      if (!client[instrumented]) this.instrumentClient(client);
    };
    (pool as { connect: unknown }).connect = (cb?: ConnectCallback) => {
      const started = performance.now();
      if (cb) {
        return connect((err, client, done) => {
          if (client) checkedOut(client, started);
          cb(err, client, done);
        });
      }
      return connect()!.then((client) => {
        checkedOut(client, started);
        return client;
      });
    };
  }

  private instrumentClient(client: TrackedClient): void {
    client[instrumented] = true;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | undefined)?.text;
      // Cursors and other submittables (objects with submit()) pass through unmeasured.
      if (typeof text !== 'string' || typeof (args[0] as { submit?: unknown }).submit === 'function') {
        return query(...args);
      }
      // A prepare()d query (prepared.ts) goes by its statement name: parsed once per connection.
      const name = typeof args[0] === 'string' && Array.isArray(args[1]) && args.length === 2 ? statementName(text) : undefined;
      if (name) args.splice(0, 2, { name, text, values: args[1] });
      const checkoutWaitMs = client[pendingWait];
      client[pendingWait] = undefined;
      const started = performance.now();
      const finish = (failed: boolean) =>
        this.record({ sql: text, durationMs: performance.now() - started, checkoutWaitMs, failed });
      const last = args.at(-1);
      if (typeof last === 'function') {
        const callback = last as (err: unknown, result: unknown) => void;
        args[args.length - 1] = (err: unknown, result: unknown) => {
          finish(Boolean(err));
          callback(err, result);
        };
        return query(...args);
      }
      return (query(...args) as Promise<unknown>).then(
        (value) => {
          finish(false);
          return value;
        },
        (error: unknown) => {
          finish(true);
          throw error;
        },
      );
    };
  }

  private record(event: QueryEvent): void {
    const sql = event.sql.length > 500 ? `${event.sql.slice(0, 500)}…` : event.sql;
    if (event.checkoutWaitMs !== undefined && event.checkoutWaitMs > this.options.checkoutWarnMs) {
      this.logger.warn(
        { checkoutWaitMs: Math.round(event.checkoutWaitMs), thresholdMs: this.options.checkoutWarnMs, sql },
        'slow database checkout: the pool may be exhausted (see docs/operations.md)',
      );
    }
    if (this.options.slowQueryMs > 0 && event.durationMs > this.options.slowQueryMs) {
      this.logger.warn({ durationMs: Math.round(event.durationMs), thresholdMs: this.options.slowQueryMs, sql }, 'slow query');
    }
    for (const listener of this.queryListeners) listener(event);
  }
}

export function poolStats(pool: pg.Pool): PoolStats {
  return {
    size: pool.totalCount,
    max: pool.options.max ?? 10,
    inUse: pool.totalCount - pool.idleCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
  };
}
