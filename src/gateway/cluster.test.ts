// Two `cgraph serve` processes on different ports, one database, one Redis: an event
// produced on one node reaches a socket on the other, over the PostgreSQL adapter and
// over the Redis adapter; a logout on one node closes the socket on the other.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/db.ts';
import { startServe } from '../../test/serve.ts';
import { PROJECT_ROOT } from '../config.ts';
import { TestClient } from './testing.ts';

interface Node {
  base: string;
  ws: string;
  child: ChildProcess;
  output: () => string;
}

async function startNode(t: TestDatabase, env: Record<string, string>): Promise<Node> {
  const server = await startServe(
    [path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs'), 'serve'],
    {
      ...process.env,
      NODE_ENV: 'development',
      DATABASE_URL: t.url,
      TEST_DATABASE_URL: '',
      CGRAPH_WORKER: 'false',
      CGRAPH_MIGRATE_ON_START: 'false',
      RATE_LIMIT_ENABLED: 'false',
      ...env,
    },
    40_000,
  );
  return { base: server.base, ws: `${server.base.replace(/^http/, 'ws')}/gateway`, child: server.child, output: server.output };
}

async function post(
  base: string,
  url: string,
  body: unknown,
  token?: string,
): Promise<Record<string, unknown> & { token?: string; id?: string }> {
  const res = await fetch(`${base}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${url}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const adapters: Array<[string, Record<string, string>]> = [
  ['postgres', { GATEWAY_FANOUT: 'postgres', REDIS_URL: '' }],
  ['redis', { GATEWAY_FANOUT: 'redis', REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }],
];

describe.each(adapters)('two nodes over %s', (name, env) => {
  it.runIf(name !== 'redis' || Boolean(process.env.REDIS_URL))(
    'delivers an event produced on node 1 to a socket on node 2',
    { timeout: 120_000 },
    async () => {
      const t = await createTestDatabase();
      const nodes: Node[] = [];
      try {
        // One at a time: if the second fails to start, the first is already in `nodes` (killed below).
        nodes.push(await startNode(t, env));
        nodes.push(await startNode(t, env));
        const [one, two] = nodes as [Node, Node];
        const a = await post(one.base, '/api/v1/auth/register', {
          email: `a_${name}@example.com`,
          username: `a_${name}`,
          password: 'long enough pw',
        });
        const b = await post(one.base, '/api/v1/auth/register', {
          email: `b_${name}@example.com`,
          username: `b_${name}`,
          password: 'long enough pw',
        });
        const bUser = b.user as { id: string };
        const dm = await post(one.base, '/api/v1/conversations', { user_ids: [bUser.id] }, a.token);

        const socket = await TestClient.open(two.ws);
        await socket.identify(b.token!);
        // Large enough (12 KB of UTF-8) that the PostgreSQL adapter must chunk it.
        const content = '€'.repeat(4000);
        const message = await post(one.base, `/api/v1/conversations/${dm.id}/messages`, { content }, a.token);
        const event = await socket.event('message.created', (f) => f.data?.id === message.id, 10_000);
        expect(event.data).toMatchObject({ content, conversation_id: dm.id });
        expect(event.room).toBe(`conversation:${dm.id}`);

        // Resume on node 1 from before the message: the buffer is shared.
        const resumed = await TestClient.open(one.ws);
        resumed.send({ op: 'resume', token: b.token, last_seq: event.seq! - 1 });
        await resumed.event('message.created', (f) => f.data?.id === message.id, 10_000);
        await resumed.next((f) => f.op === 'resumed');

        // Logging out on node 1 closes the sockets of that session on node 2.
        await post(one.base, '/api/v1/auth/logout', {}, b.token);
        expect((await socket.waitClosed(10_000)).code).toBe(4001);
        expect((await resumed.waitClosed(10_000)).code).toBe(4001);
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n${nodes.map((n, i) => `node ${i + 1} output:\n${n.output()}`).join('\n')}`,
        );
      } finally {
        for (const n of nodes) n.child.kill('SIGKILL');
        await t.close();
      }
    },
  );
});
