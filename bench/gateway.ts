// `npm run bench -- gateway`: the realtime gateway under load. `cgraph serve` runs as a
// child process (one node, then two over Redis); this process is the load: it opens
// BENCH_CLIENTS WebSocket clients on loopback (10 000 by default), BENCH_MEMBERS of whom
// (1 000) are members of one group. It measures
//   - memory per idle connection: the server's RSS growth after a full GC, from a baseline
//     taken once WARMUP clients are identified (code compiled and pools opened by the first
//     connections are not charged to each) to the moment every client is identified and
//     the server has settled (presence written, CPU idle), divided by the clients added;
//   - delivery latency: from sending a channel message (POST) to its arrival at the last
//     of the online members (target p99 < 100 ms), over BENCH_MESSAGES messages sent one
//     at a time;
//   - sustained delivery: events per second arriving at clients while messages are sent
//     back to back by BENCH_SENDERS concurrent senders for BENCH_SECONDS, with the
//     servers' CPU time per message sent.
// Messages are sent over HTTP with bench/server.ts's HttpClient (keep-alive undici pool):
// fetch would cost the load process ~190 µs of CPU per request.
// Users, sessions and memberships are written with set-based SQL (hashing 10 000
// passwords would measure Argon2, not the gateway).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import WebSocket from 'ws';
import { PROJECT_ROOT } from '../src/config.ts';
import type { Db } from '../src/db/database.ts';
import { createEventBus } from '../src/events/bus.ts';
import { createLogger } from '../src/lib/logger.ts';
import { createGroup } from '../src/modules/groups/groups.ts';
import { hashToken } from '../src/modules/sessions/tokens.ts';
import { benchDatabase, percentile } from './lib.ts';
import { cpuMs, HttpClient, serveOnFreePort } from './server.ts';

const fmt = (n: number, digits: number) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 10_000);
const MEMBERS = Math.min(CLIENTS, Number(process.env.BENCH_MEMBERS ?? 1_000));
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 30);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 8);
const IDENTIFY_CONCURRENCY = 100;
const WARMUP = Math.min(200, Math.floor(CLIENTS / 20));

interface Node {
  child: ChildProcess;
  port: number;
  /** The child's inspector (DevTools protocol): to collect garbage before reading memory. */
  inspector: string;
}

interface Client {
  ws: WebSocket;
  member: boolean;
}

export async function run(): Promise<void> {
  const bench = await benchDatabase('cgraph_bench_gateway');
  const { db } = bench.database;
  try {
    console.log(`gateway benchmark: ${CLIENTS.toLocaleString('en-US')} clients, a channel of ${MEMBERS.toLocaleString('en-US')} members`);
    const tokens = Array.from({ length: CLIENTS }, () => randomBytes(32).toString('base64url'));
    await sql`
      INSERT INTO users (id, username, email, password_hash, status)
      SELECT cgraph_uuid_v7(), 'gw_' || g, 'gw_' || g || '@bench.test', 'x', 'offline' FROM generate_series(1, ${CLIENTS}) AS g`.execute(db);
    const users = (await sql<{ id: string }>`SELECT id FROM users WHERE username LIKE 'gw\\_%' ORDER BY substr(username, 4)::int`.execute(db)).rows;
    await sql`
      INSERT INTO sessions (id, user_id, token, expires_at)
      SELECT cgraph_uuid_v7(), u, t, now() + interval '1 day'
      FROM unnest(${users.map((u) => u.id)}::uuid[], ${tokens.map((t) => hashToken(t))}::bytea[]) AS s(u, t)`.execute(db);
    const owner = users[0]!.id;
    const group = await createGroup(db, createEventBus(createLogger('warn')), owner, { name: 'Benchmark group' });
    await sql`
      INSERT INTO group_members (id, group_id, user_id)
      SELECT cgraph_uuid_v7(), ${group.id}, u FROM unnest(${users.slice(1, MEMBERS).map((u) => u.id)}::uuid[]) AS u`.execute(db);
    const channel = (await db.selectFrom('channels').select('id').where('group_id', '=', group.id).executeTakeFirstOrThrow()).id;
    const ownerToken = tokens[0]!;

    await scenario('one node', [{ fanout: 'in-process' }], { db, tokens, channel, ownerToken, url: bench.url });
    if (process.env.REDIS_URL) {
      await sql`TRUNCATE gateway_events, gateway_presence`.execute(db);
      await scenario('two nodes over Redis', [{ fanout: 'redis' }, { fanout: 'redis' }], { db, tokens, channel, ownerToken, url: bench.url });
    } else {
      console.log('two nodes over Redis: skipped (REDIS_URL is not set)');
    }
  } finally {
    await bench.close();
  }
}

async function scenario(
  title: string,
  nodes: Array<{ fanout: string }>,
  ctx: { db: Db; tokens: string[]; channel: string; ownerToken: string; url: string },
): Promise<void> {
  console.log(`\n${title}`);
  const servers = await Promise.all(nodes.map((n) => startNode(ctx.url, n.fanout)));
  const clients: Client[] = [];
  const http = new HttpClient(`http://127.0.0.1:${servers[0]!.port}`, SENDERS);
  try {
    let next = 0;
    const connect = (until: number) =>
      Promise.all(
        Array.from({ length: IDENTIFY_CONCURRENCY }, async () => {
          while (next < until) {
            const i = next++;
            const server = servers[i % servers.length]!;
            clients[i] = { ws: await identify(server.port, ctx.tokens[i]!), member: i < MEMBERS };
          }
        }),
      );
    await connect(WARMUP);
    await settle(ctx.db, servers, WARMUP);
    const before = await Promise.all(servers.map(memoryAfterGc));
    const cpuBefore = servers.map((s) => cpuMs(s.child.pid!));
    const statementsBefore = await statements(servers);
    let started = performance.now();
    await connect(ctx.tokens.length);
    const added = ctx.tokens.length - WARMUP;
    const identifySeconds = (performance.now() - started) / 1000;
    const rssBeforeGc = servers.map((s) => rssKb(s.child.pid!));
    await settle(ctx.db, servers, ctx.tokens.length);
    const identifyCpu = servers.reduce((sum, s, i) => sum + cpuMs(s.child.pid!) - cpuBefore[i]!, 0) / added;
    const identifyStatements = ((await statements(servers)) - statementsBefore) / added;
    console.log(
      `  connected and identified: ${added.toLocaleString('en-US')} (after ${WARMUP} warm-up clients) in ${identifySeconds.toFixed(1)} s; ` +
        `per identify: server CPU ${fmt(identifyCpu, 2)} ms, ${fmt(identifyStatements, 1)} database statements`,
    );
    const after = await Promise.all(servers.map(memoryAfterGc));
    const per = (pick: (m: Memory) => number) => after.reduce((sum, m, i) => sum + pick(m) - pick(before[i]!), 0) / added;
    const rssNoGc = rssBeforeGc.reduce((sum, kb, i) => sum + kb - before[i]!.rssKb, 0) / added;
    console.log(
      `  memory per idle connection: RSS ${fmt(per((m) => m.rssKb), 1)} KB after a full GC (target < 20 KB); ` +
        `JS heap + external ${fmt(per((m) => m.heapKb + m.externalKb), 1)} KB; RSS before the GC ${fmt(rssNoGc, 1)} KB — ` +
        `RSS ${servers.map((_, i) => `${fmt(before[i]!.rssKb / 1024, 0)} → ${fmt(after[i]!.rssKb / 1024, 0)} MB`).join(', ')}`,
    );

    // Arrival times of message.created per message id, at member clients.
    const arrivals = new Map<string, number[]>();
    let delivered = 0;
    for (const c of clients) {
      c.ws.on('message', (raw: Buffer) => {
        const text = raw.toString('utf8');
        if (!text.includes('"message.created"')) return;
        const frame = JSON.parse(text) as { data: { id: string } };
        delivered += 1;
        const list = arrivals.get(frame.data.id);
        if (list) list.push(performance.now());
        else arrivals.set(frame.data.id, [performance.now()]);
      });
    }
    const post = async (i: number) => {
      const t0 = performance.now();
      const reply = await http.expect(201, 'POST', `/api/v1/channels/${ctx.channel}/messages`, {
        token: ctx.ownerToken,
        body: { content: `benchmark message ${i}` },
      });
      return { id: reply.json<{ id: string }>().id, t0 };
    };

    const lastLatencies: number[] = [];
    const allLatencies: number[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const { id, t0 } = await post(i);
      const deadline = performance.now() + 10_000;
      while ((arrivals.get(id)?.length ?? 0) < MEMBERS && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      const times = arrivals.get(id) ?? [];
      if (times.length < MEMBERS) console.log(`  message ${i}: only ${times.length} of ${MEMBERS} deliveries within 10 s`);
      lastLatencies.push(Math.max(...times) - t0);
      for (const t of times) allLatencies.push(t - t0);
    }
    console.log(
      `  send → last of ${MEMBERS} members: p50 ${fmt(percentile(lastLatencies, 50), 1)} ms, p99 ${fmt(percentile(lastLatencies, 99), 1)} ms (target < 100 ms); ` +
        `per delivery p50 ${fmt(percentile(allLatencies, 50), 1)} ms, p99 ${fmt(percentile(allLatencies, 99), 1)} ms`,
    );

    delivered = 0;
    let sent = 0;
    const cpuSustained = servers.map((s) => cpuMs(s.child.pid!));
    started = performance.now();
    const stopAt = started + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (performance.now() < stopAt) await post(MESSAGES + sent++);
      }),
    );
    const expected = sent * MEMBERS;
    const drainDeadline = performance.now() + 10_000;
    while (delivered < expected && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 10));
    const elapsed = (performance.now() - started) / 1000;
    const sendCpu = servers.reduce((sum, s, i) => sum + cpuMs(s.child.pid!) - cpuSustained[i]!, 0) / Math.max(1, sent);
    console.log(
      `  sustained: ${sent} messages in ${SECONDS} s by ${SENDERS} senders → ${delivered.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} deliveries in ${elapsed.toFixed(1)} s = ${fmt(delivered / elapsed, 0)} events/s; ` +
        `server CPU ${fmt(sendCpu, 2)} ms per message (all nodes)`,
    );
  } finally {
    for (const c of clients) c?.ws.terminate();
    for (const s of servers) s.child.kill('SIGKILL');
    await http.close();
  }
}

/**
 * Statements the servers have sent to PostgreSQL so far (BEGIN and COMMIT included: each
 * is a round trip), from their /metrics (the database telemetry's query count).
 */
async function statements(servers: Node[]): Promise<number> {
  let total = 0;
  for (const s of servers) {
    const text = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    total += Number(/^db_query_duration_seconds_count(?:\{\})? (\d+)/m.exec(text)?.[1] ?? NaN);
  }
  return total;
}

/**
 * Waits until the servers are done with what the identifies set off: every connected
 * user's presence row written, and the servers' CPU idle (at most 5 % of a core over half
 * a second); 30 s at most.
 */
async function settle(db: Db, servers: Node[], users: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM gateway_presence`.execute(db);
    if (Number(rows[0]!.n) >= users) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  while (performance.now() < deadline) {
    const cpu = servers.map((s) => cpuMs(s.child.pid!));
    await new Promise((r) => setTimeout(r, 500));
    if (servers.every((s, i) => cpuMs(s.child.pid!) - cpu[i]! <= 25)) return;
  }
}

interface Memory {
  heapKb: number;
  externalKb: number;
  rssKb: number;
}

/** The child's memory after a full garbage collection, through its inspector. */
async function memoryAfterGc(node: Node): Promise<Memory> {
  const ws = new WebSocket(node.inspector);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { result?: { value?: string } } }>((resolve) => {
      const mine = ++id;
      const onMessage = (raw: Buffer) => {
        const reply = JSON.parse(raw.toString('utf8')) as { id?: number; result?: { result?: { value?: string } } };
        if (reply.id !== mine) return;
        ws.off('message', onMessage);
        resolve(reply);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const reply = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
  ws.close();
  const usage = JSON.parse(reply.result?.result?.value ?? '{}') as { heapUsed: number; external: number; rss: number };
  return { heapKb: usage.heapUsed / 1024, externalKb: usage.external / 1024, rssKb: usage.rss / 1024 };
}

function rssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

async function startNode(url: string, fanout: string): Promise<Node> {
  let inspector = '';
  const { port, child } = await serveOnFreePort(
    (port) => {
      inspector = '';
      const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs'), 'serve'], {
        env: {
          ...process.env,
          NODE_ENV: 'development',
          DATABASE_URL: url,
          PORT: String(port),
          HOST: '127.0.0.1',
          LOG_LEVEL: 'error',
          CGRAPH_WORKER: 'false',
          CGRAPH_MIGRATE_ON_START: 'false',
          RATE_LIMIT_ENABLED: 'false',
          POOL_SIZE: '20',
          GATEWAY_FANOUT: fanout,
          GATEWAY_IDENTIFY_TIMEOUT: '5m',
        },
        stdio: ['ignore', 'inherit', 'pipe'],
      });
      child.stderr.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        const match = /Debugger listening on (ws:\/\/\S+)/.exec(text);
        if (match) inspector = match[1]!;
        else if (!/Debugger|For help, see/.test(text)) process.stderr.write(text);
      });
      return child;
    },
    () => inspector !== '',
  );
  return { child, port, inspector };
}

function identify(port: number, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/gateway`);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ op: 'identify', token })));
    const onMessage = (raw: Buffer) => {
      if (raw.toString('utf8').startsWith('{"op":"ready"')) {
        ws.off('message', onMessage);
        resolve(ws);
      }
    };
    ws.on('message', onMessage);
    ws.once('close', (code) => reject(new Error(`closed ${code} before ready`)));
  });
}
