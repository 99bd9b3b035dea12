// `npm run bench -- api`: a real `cgraph serve` process on loopback, driven by autocannon
// from this process.
//   1. GET /api/v1/me with a valid token against the bare GET /health of the same server,
//      interleaved in rounds (target: /me reaches at least 50 % of /health's throughput,
//      i.e. the session check costs about one indexed lookup);
//   2. the p99 latency of GET /me alone, then while 20 logins per second run alongside
//      (target: under 20 ms: Argon2 hashing must not block the event loop).
import autocannon from 'autocannon';
import { benchDatabase, fmt, median } from './lib.ts';
import { startServer } from './server.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const LOGINS_PER_SECOND = 20;

function load(url: string, headers: Record<string, string>, seconds = SECONDS, connections = CONNECTIONS) {
  return autocannon({ url, headers, connections, duration: seconds, pipelining: 1 });
}

export async function run(): Promise<void> {
  const bench = await benchDatabase('cgraph_bench_api');
  // The job worker runs, as under `npm start`.
  const server = await startServer(bench.url, { POOL_SIZE: '10', CGRAPH_WORKER: 'true' });
  const port = server.port;
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
    await server.stop();
    await bench.close();
  }
}
