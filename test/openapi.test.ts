// The OpenAPI document is generated from the route schemas; this holds it to every route
// the app registers, and checks /docs serves a page.
import { describe, expect, it } from 'vitest';
import { useTestApp } from './app-harness.ts';

const api = useTestApp();

const DOC_ROUTES = /^\/(openapi\.json|docs)(\/|$)/;

describe('OpenAPI', () => {
  it('documents every registered route, with its method', async () => {
    const res = await api.call({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)),
    );
    const registered = api.app.routeList
      .filter((r) => r.method !== 'HEAD' && !DOC_ROUTES.test(r.url))
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    expect(registered.length).toBeGreaterThan(10);
    const missing = registered.filter((route) => !documented.has(route));
    expect(missing).toEqual([]);
    for (const path of ['/api/v1/auth/register', '/api/v1/auth/login', '/api/v1/me', '/api/v1/auth/wallet/verify', '/health', '/ready', '/metrics']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });

  it('serves a browsable page at /docs', async () => {
    const res = await api.call({ method: 'GET', url: '/docs/' });
    expect([200, 302]).toContain(res.statusCode);
    const page = res.statusCode === 302 ? await api.call({ method: 'GET', url: res.headers.location }) : res;
    expect(page.body).toMatch(/swagger/i);
  });
});

describe('/metrics', () => {
  it('exposes request counts by route, latency, and pool and query figures', async () => {
    await api.call({ method: 'GET', url: '/health' });
    await api.call({ method: 'GET', url: '/api/v1/me' });
    const res = await api.call({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(/http_requests_total\{method="GET",route="\/health",status_code="200"\} \d+/);
    expect(res.body).toMatch(/http_requests_total\{method="GET",route="\/api\/v1\/me",status_code="401"\} \d+/);
    expect(res.body).toMatch(/http_request_duration_seconds_bucket/);
    for (const state of ['size', 'max', 'in_use', 'idle', 'waiting']) {
      expect(res.body).toMatch(new RegExp(`db_pool_connections\\{state="${state}"\\} \\d+`));
    }
    expect(res.body).toMatch(/db_query_duration_seconds_count \d+/);
    expect(res.body).toMatch(/db_checkout_wait_seconds_count \d+/);
  });
});
