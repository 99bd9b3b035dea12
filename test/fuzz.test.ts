// Hostile input at every documented route: malformed, oversized, wrongly typed and
// unicode-heavy bodies, query strings and path parameters, with and without a valid
// token. Whatever arrives, the answer is a 4xx (or a success), never a 5xx.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../src/modules/sessions/service.ts';
import { useTestApp } from './app-harness.ts';

const api = useTestApp();
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

interface Operation {
  method: string;
  path: string;
  bodyKeys: string[];
}

let operations: Operation[] = [];
let userId = '';
// A fresh session per request: a fuzzed logout or session revoke must not leave the
// rest of the run unauthenticated.
const freshToken = async () =>
  (await createSession(api.t.db, api.t.config.sessions, userId, { userAgent: 'fuzz', ip: '127.0.0.1' })).token;

beforeAll(async () => {
  userId = (await api.register('fuzzer')).user.id;
  const doc = (await api.call({ method: 'GET', url: '/openapi.json' })).json<{
    paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } }>>;
  }>();
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      bodyKeys: Object.keys(op.requestBody?.content?.['application/json']?.schema?.properties ?? {}),
    })),
  );
});

const nasty = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom('', ' ', '..', '%00', '\u0000', '💥'.repeat(300), 'a'.repeat(5000), "'; DROP TABLE users; --", '0x', '-1', '1e309', 'null', 'ﷺ'.repeat(50)),
  fc.uuid(),
);

const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  nasty,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(nasty, { maxLength: 5 }),
);

function bodyFor(keys: string[]): fc.Arbitrary<{ raw: string | undefined; contentType: string | undefined }> {
  const shaped = keys.length
    ? fc.record(Object.fromEntries(keys.map((key) => [key, jsonish])), { requiredKeys: [] }).map((o) => JSON.stringify(o))
    : fc.constant('{}');
  return fc.oneof(
    shaped.map((raw) => ({ raw, contentType: 'application/json' })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ raw: JSON.stringify(v), contentType: 'application/json' })),
    nasty.map((raw) => ({ raw, contentType: 'application/json' })),
    nasty.map((raw) => ({ raw, contentType: 'text/plain' })),
    fc.constant({ raw: undefined, contentType: undefined }),
    fc.constant({ raw: JSON.stringify({ x: 'y'.repeat(1_200_000) }), contentType: 'application/json' }),
  );
}

describe('fuzzing every route', () => {
  it('never answers 5xx', async () => {
    expect(operations.length).toBeGreaterThan(10);
    const failures: string[] = [];
    for (const op of operations) {
      if (/^\/(docs|openapi\.json)/.test(op.path)) continue;
      await fc.assert(
        fc.asyncProperty(
          fc.array(nasty, { minLength: 3, maxLength: 3 }),
          fc.dictionary(fc.string({ maxLength: 10 }), nasty, { maxKeys: 4 }),
          bodyFor(op.bodyKeys),
          fc.constantFrom<'valid' | 'none' | 'garbage'>('valid', 'none', 'garbage'),
          async (params, query, body, auth) => {
            let i = 0;
            const url = op.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[i++ % params.length]!));
            const res = await api.app.inject({
              method: op.method as 'GET',
              url,
              query,
              headers: {
                ...(body.contentType ? { 'content-type': body.contentType } : {}),
                ...(auth === 'valid' ? { authorization: `Bearer ${await freshToken()}` } : auth === 'garbage' ? { authorization: 'Bearer ✗✗✗' } : {}),
              },
              ...(body.raw !== undefined && op.method !== 'GET' ? { payload: body.raw } : {}),
            });
            if (res.statusCode >= 500) failures.push(`${op.method} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
            return res.statusCode < 500;
          },
        ),
        { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261126) },
      ).catch(() => undefined);
    }
    expect(failures).toEqual([]);
  });
});
