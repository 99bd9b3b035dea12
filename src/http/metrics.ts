// GET /metrics: Prometheus text. Request counts and latency by route template (never by
// raw URL, which would explode label cardinality), the pool's size / in use / idle /
// waiting, and query and checkout time from the database telemetry.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../db/database.ts';

export function registerMetrics(app: FastifyInstance, database: Pick<Database, 'telemetry' | 'stats'>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const pool = new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state (size, max, in_use, idle, waiting = callers queued for a connection)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const stats = database.stats();
      this.set({ state: 'size' }, stats.size);
      this.set({ state: 'max' }, stats.max);
      this.set({ state: 'in_use' }, stats.inUse);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
    },
  });
  void pool;
  const queryTime = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'Database query execution time',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const checkoutTime = new Histogram({
    name: 'db_checkout_wait_seconds',
    help: 'Time spent waiting for a pooled database connection',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const offQuery = database.telemetry.onQuery((event) => queryTime.observe(event.durationMs / 1000));
  const offCheckout = database.telemetry.onCheckout((ms) => checkoutTime.observe(ms / 1000));
  app.addHook('onClose', () => {
    offQuery();
    offCheckout();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
    latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', tags: ['operations'] } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  return registry;
}
