// The HTTP side of the benchmarks: a real `cgraph serve` child process on loopback, a cheap
// HTTP client to load it with, and the per-process readings (CPU time, RSS) from /proc.
//
// Why a child process and undici's Pool: on a 2-core machine the load generator competes
// with the server and PostgreSQL for the cores. `fetch` spends ~190 µs of client CPU per
// request (measured against GET /health: 6 000 req/s, p99 15 ms at 20 connections), a
// keep-alive undici Pool ~25 µs (37 000 req/s, p99 2.5 ms); with fetch the baseline itself
// sat at the latency targets. A server inside the bench process would share one
// event loop with the client, so it runs as its own process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { chooseEntry } from '../bin/source-hash.mjs';
import { PROJECT_ROOT } from '../src/config.ts';
import { fmt, median, percentile } from './lib.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface BenchServer {
  port: number;
  base: string;
  pid: number;
  child: ChildProcess;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

let built = false;

/**
 * The server runs as production does: from the compiled build (`npm run build`), made here
 * when it is missing or older than the sources. BENCH_FROM_SOURCE=1 measures the sources
 * through tsx instead (the loader costs the server ~45 MB of memory).
 */
function ensureBuild(): string {
  if (process.env.BENCH_FROM_SOURCE === '1') return 'the TypeScript sources through tsx (BENCH_FROM_SOURCE=1)';
  if (!built && !chooseEntry(PROJECT_ROOT).compiled) {
    console.log('building dist/ for the server (npm run build)…');
    const result = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'build.mjs')], { stdio: 'inherit' });
    if (result.status !== 0) throw new Error('npm run build failed');
  }
  built = true;
  return 'the compiled build (dist/)';
}

/**
 * `cgraph serve` on a free loopback port against `databaseUrl`, in production mode with rate
 * limits and the job worker off. `env` adds or overrides settings (POOL_SIZE, REDIS_URL, …).
 * BENCH_SERVER_NODE_ARGS passes node flags, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
 * (node refuses --cpu-prof in NODE_OPTIONS).
 */
export async function startServer(databaseUrl: string, env: Record<string, string> = {}): Promise<BenchServer> {
  const code = ensureBuild();
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const { port, child } = await serveOnFreePort((port) =>
    spawn(process.execPath, [...nodeArgs, path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs'), 'serve'], {
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
        CGRAPH_WORKER: 'false',
        // Loads queue for the pool by design; a warning per wait would measure pino.
        DB_CHECKOUT_WARN_MS: '1000',
        CGRAPH_FROM_SOURCE: process.env.BENCH_FROM_SOURCE === '1' ? '1' : '0',
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
  console.log(`server: cgraph serve from ${code}, pid ${child.pid}`);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  return { port, base: `http://127.0.0.1:${port}`, pid: child.pid!, child, stop };
}

/**
 * A server process that `spawnOn(port)` starts on a free loopback port, once `/ready`
 * answers (and `ready()`, for what else the caller waits for). The port is free when
 * picked but not reserved: another process may bind it first, and the server then exits
 * (EADDRINUSE); it is started again on a new port, up to three times.
 */
export async function serveOnFreePort(
  spawnOn: (port: number) => ChildProcess,
  ready: () => boolean = () => true,
  timeoutMs = 60_000,
): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const child = spawnOn(port);
    const deadline = Date.now() + timeoutMs;
    while (child.exitCode === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Bounded: whatever else holds the port may accept and never answer.
      const ok = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok && ready() && child.exitCode === null) return { port, child };
    }
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      throw new Error('the server did not become ready');
    }
    console.error(`the server exited before it was ready (attempt ${attempt} of 3)`);
  }
  throw new Error('the server did not start');
}

/** Resident memory of a process, in MB (Linux); 0 once it is gone. */
export function rssMb(pid: number): number {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0;
  }
  const line = status.split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) / 1024;
}

/** user + system CPU ms of a /proc/<pid>/stat line (Linux, 100 ticks/s). */
function statCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * CPU time (user + system) a process has used, in ms (Linux). Per request it is the
 * server's own cost, which other load on the machine does not inflate the way it inflates
 * latencies.
 */
export function cpuMs(pid: number): number {
  try {
    return statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return 0;
  }
}

/**
 * CPU ms used so far by every PostgreSQL process this machine shows (the benchmarked server
 * when it is local, embedded or not: backends, WAL writer, checkpointer, autovacuum); 0
 * when the database runs elsewhere.
 */
export function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes(' (postgres) ')) total += statCpuMs(stat);
    } catch {
      // the process ended while the list was read
    }
  }
  return total;
}

/** Busy CPU ms of the whole machine, all cores (user, nice, system, irq, softirq, steal). */
export function machineBusyMs(): number {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) * 10;
  } catch {
    return 0;
  }
}

export interface Timed {
  /** completed calls per second */
  rate: number;
  p50: number;
  p99: number;
  n: number;
}

/** `workers` closed loops of `op` for `seconds`; latencies in ms. */
export async function timed(seconds: number, workers: number, op: (worker: number, i: number) => Promise<void>): Promise<Timed> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        await op(w, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rate: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length };
}

/** Where a phase's CPU went, in ms per completed request. */
export interface CpuShares {
  /** the server process */
  cpu: number;
  /** every local PostgreSQL process (postgresCpuMs) */
  pgCpu: number;
  /** this benchmark process: the load generator */
  benchCpu: number;
  /** the whole machine, all cores: the three above, the kernel's share and anything else running */
  machineCpu: number;
}

/** The CPU shares of a phase that does not go through the server (figures it does not take). */
export const NO_SERVER: CpuShares = { cpu: 0, pgCpu: 0, benchCpu: 0, machineCpu: 0 };

function cpuReadings(pid: number) {
  const own = process.cpuUsage();
  return { server: cpuMs(pid), pg: postgresCpuMs(), bench: (own.user + own.system) / 1000, machine: machineBusyMs() };
}

/**
 * `phase` on `pid`'s server, with its CPU per completed request: the server's, PostgreSQL's,
 * the load generator's and the machine's. On a machine the three share, a closed loop's
 * rate is bounded by cores / machine CPU per request, and its latency by Little's law.
 */
export async function onServer<T extends Timed>(pid: number, phase: () => Promise<T>): Promise<T & CpuShares> {
  const before = cpuReadings(pid);
  const result = await phase();
  const after = cpuReadings(pid);
  const per = (key: keyof typeof before) => (after[key] - before[key]) / Math.max(1, result.n);
  return { ...result, cpu: per('server'), pgCpu: per('pg'), benchCpu: per('bench'), machineCpu: per('machine') };
}

export interface Reply {
  status: number;
  text: string;
  json<T = unknown>(): T;
}

/** A keep-alive client for one server: `connections` sockets, no pipelining. */
export class HttpClient {
  private readonly pool: Pool;

  constructor(readonly base: string, connections = 64) {
    this.pool = new Pool(base, { connections, pipelining: 1 });
  }

  async request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, options: { token?: string; body?: unknown } = {}): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.pool.request({
      method,
      path: url,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text, json: <T>() => JSON.parse(text) as T };
  }

  get(url: string, token?: string): Promise<Reply> {
    return this.request('GET', url, { token });
  }

  /** Like request, but throws unless the status is `expected`. */
  async expect(expected: number, method: Parameters<HttpClient['request']>[0], url: string, options: { token?: string; body?: unknown } = {}): Promise<Reply> {
    const reply = await this.request(method, url, options);
    if (reply.status !== expected) throw new Error(`${method} ${url}: ${reply.status} ${reply.text.slice(0, 300)}`);
    return reply;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export type Measured = Timed & CpuShares;

/** Medians over rounds of each figure of a phase, and the worst round's p99. */
export function summary(runs: Measured[]) {
  return {
    rate: median(runs.map((r) => r.rate)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpu: median(runs.map((r) => r.cpu)),
    pgCpu: median(runs.map((r) => r.pgCpu)),
    benchCpu: median(runs.map((r) => r.benchCpu)),
    machineCpu: median(runs.map((r) => r.machineCpu)),
    worstP99: Math.max(...runs.map((r) => r.p99)),
  };
}

const ms = (n: number) => `${n.toFixed(2)} ms`;

/** One phase's summary on a line. */
export const line = (s: ReturnType<typeof summary>, unit = 'req/s') =>
  `p50 ${ms(s.p50)}, p99 ${ms(s.p99)} (worst round ${ms(s.worstP99)}), ${fmt(s.rate)} ${unit}, server CPU ${s.cpu.toFixed(2)} ms/req`;

/**
 * Where a closed loop's requests spent the machine: CPU ms per request of the server,
 * PostgreSQL, the load generator and the whole machine, and what that allows. With every
 * core busy, `cores / machine CPU per request` bounds the rate, and `clients / rate` is then
 * the least mean latency a closed loop of `clients` can see (Little's law): a p99 target
 * below it cannot be met on this machine whatever the code's latency would be alone.
 */
export function cpuLine(s: ReturnType<typeof summary>, clients: number): string {
  const cores = availableParallelism();
  const bound = (cores * 1000) / Math.max(0.001, s.machineCpu);
  return (
    `CPU per request: server ${s.cpu.toFixed(2)} ms, PostgreSQL ${s.pgCpu.toFixed(2)} ms, load generator ${s.benchCpu.toFixed(2)} ms, ` +
    `machine ${s.machineCpu.toFixed(2)} ms in all; ${cores} cores allow at most ${fmt(bound)} req/s, ` +
    `where ${clients} closed-loop clients wait ${ms((clients / bound) * 1000)} on average`
  );
}

/**
 * `variants` run alternately for `rounds` rounds (order reversed every other round), so
 * that each figure and its baseline see the same machine: its load drifts within a run.
 */
export async function interleavedRounds<K extends string>(
  rounds: number,
  variants: Record<K, () => Promise<Measured>>,
): Promise<Record<K, Measured[]>> {
  const names = Object.keys(variants) as K[];
  const results = Object.fromEntries(names.map((n) => [n, [] as Measured[]])) as Record<K, Measured[]>;
  for (let r = 0; r < rounds; r++) {
    for (const name of r % 2 === 0 ? names : [...names].reverse()) results[name].push(await variants[name]());
  }
  return results;
}
