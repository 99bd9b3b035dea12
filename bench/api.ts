// `npm run bench -- api`: a real `cgraph serve` process on loopback, driven by autocannon
// from this process.
//   1. GET /api/v1/me with a valid token against the bare GET /health of the same server,
//      interleaved in rounds (target: /me reaches at least 50 % of /health's throughput,
//      i.e. the session check costs about one indexed lookup);
//   2. the p99 latency of GET /me alone, then while 20 logins per second run alongside
//      (target: under 20 ms: Argon2 hashing must not block the event loop).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import autocannon from 'autocannon';
import { PROJECT_ROOT } from '../src/config.ts';
import { benchDatabase, fmt, median } from './lib.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const LOGINS_PER_SECOND = 20;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function startServer(databaseUrl: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs'), 'serve'], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      DATABASE_SSL: 'disable',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_ENABLED: 'false',
      CGRAPH_MIGRATE_ON_START: 'false',
      POOL_SIZE: '10',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false);
    if (ok) return child;
  }
  child.kill('SIGKILL');
  throw new Error('the server did not become ready');
}

function load(url: string, headers: Record<string, string>, seconds = SECONDS, connections = CONNECTIONS) {
  return autocannon({ url, headers, connections, duration: seconds, pipelining: 1 });
}

export async function run(): Promise<void> {
  const bench = await benchDatabase('cgraph_bench_api');
  const port = await freePort();
  const server = await startServer(bench.url, port);
  const base = `http://127.0.0.1:${port}`;
  try {
    const registered = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.com', username: 'bench_user', password: 'bench password 1' }),
    });
    const { token } = (await registered.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };

    console.log(`api benchmark: server pid ${server.pid} on ${base}, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s`);
    await load(`${base}/health`, {}, 2);
    await load(`${base}/api/v1/me`, auth, 2);
    const bare: number[] = [];
    const me: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ['bare', 'me'] : ['me', 'bare'];
      for (const which of order) {
        const result = which === 'bare' ? await load(`${base}/health`, {}) : await load(`${base}/api/v1/me`, auth);
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${which}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        (which === 'bare' ? bare : me).push(result.requests.average);
      }
    }
    const ratio = median(me) / median(bare);
    console.log(`GET /health (bare): ${fmt(median(bare))} req/s (rounds: ${bare.map(fmt).join(', ')})`);
    console.log(`GET /api/v1/me:     ${fmt(median(me))} req/s (rounds: ${me.map(fmt).join(', ')})`);
    console.log(`  ratio ${(ratio * 100).toFixed(1)} % of the bare route (target >= 50 %)`);

    // p99 of /me at a moderate load, alone and with 20 logins per second alongside.
    const quiet = await load(`${base}/api/v1/me`, auth, 10, 10);
    let logins = 0;
    let failures = 0;
    const ticker = setInterval(() => {
      void fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ login: 'bench_user', password: 'bench password 1' }),
      }).then(
        (r) => (r.ok ? logins++ : failures++),
        () => failures++,
      );
    }, 1000 / LOGINS_PER_SECOND);
    const busy = await load(`${base}/api/v1/me`, auth, 10, 10);
    clearInterval(ticker);
    console.log(`GET /api/v1/me, 10 connections, alone:            p50 ${quiet.latency.p50} ms, p99 ${quiet.latency.p99} ms, ${fmt(quiet.requests.average)} req/s`);
    console.log(
      `GET /api/v1/me, 10 connections, + ${LOGINS_PER_SECOND} logins/s: p50 ${busy.latency.p50} ms, p99 ${busy.latency.p99} ms, ${fmt(busy.requests.average)} req/s ` +
        `(${logins} logins done, ${failures} failed; target p99 < 20 ms)`,
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await bench.close();
  }
}
