// pg_dump / pg_restore: finding them, checking that their major version can handle the
// server, and running them with the connection in libpq's environment variables (the
// password in PGPASSWORD, never on the command line where `ps` would show it).
import { spawn } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { DatabaseConfig } from '../../config.ts';

export type PgTool = 'pg_dump' | 'pg_restore';

export class PgToolError extends Error {
  override readonly name = 'PgToolError';
}

export interface ResolvedTool {
  path: string;
  /** e.g. `15.20` */
  version: string;
  major: number;
}

function installHint(major: number): string {
  return `install the PostgreSQL ${major} client tools (Debian/Ubuntu: apt-get install postgresql-client-${major}; macOS: brew install postgresql@${major}), or set CGRAPH_PG_BIN_DIR to the folder holding them`;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The tool's path: in `binDir` when given (and only there), else the first on PATH. */
export async function findPgTool(tool: PgTool, binDir: string | undefined, env = process.env): Promise<string | undefined> {
  const dirs = binDir ? [binDir] : (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, tool);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Runs a command to completion; resolves with its stdout, rejects with its stderr's last line. */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new PgToolError(`${path.basename(file)} failed (${signal ?? `exit ${code}`}): ${lastLines(stderr)}`));
    });
  });
}

/** The useful end of a tool's stderr, on one line. */
export function lastLines(stderr: string, count = 3): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  return lines.slice(-count).join(' | ') || 'no output';
}

/** `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → 15.20, major 15. */
export function parseToolVersion(output: string): { version: string; major: number } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) return undefined;
  return { version: match[2] ? `${match[1]}.${match[2]}` : match[1]!, major: Number(match[1]) };
}

export async function serverMajorVersion(pool: pg.Pool): Promise<{ version: string; major: number }> {
  const { rows } = await pool.query<{ server_version_num: string; server_version: string }>(
    "SELECT current_setting('server_version_num') AS server_version_num, current_setting('server_version') AS server_version",
  );
  const num = Number(rows[0]!.server_version_num);
  return { version: rows[0]!.server_version.split(' ')[0]!, major: Math.floor(num / 10_000) };
}

/**
 * Finds the tool and checks it can work with a server of `serverMajor`: pg_dump refuses
 * servers newer than itself, and an older pg_restore cannot read a newer pg_dump's archive.
 */
export async function resolvePgTool(tool: PgTool, binDir: string | undefined, serverMajor: number): Promise<ResolvedTool> {
  const file = await findPgTool(tool, binDir);
  if (!file) {
    const where = binDir ? `in CGRAPH_PG_BIN_DIR (${binDir})` : 'on PATH';
    throw new PgToolError(`${tool} was not found ${where}: ${installHint(serverMajor)}`);
  }
  const parsed = parseToolVersion(await run(file, ['--version'], process.env));
  if (!parsed) throw new PgToolError(`${file} --version printed no PostgreSQL version: ${installHint(serverMajor)}`);
  if (parsed.major < serverMajor) {
    throw new PgToolError(
      `${tool} ${parsed.version} (${file}) is older than the PostgreSQL ${serverMajor} server and cannot ${tool === 'pg_dump' ? 'dump' : 'restore into'} it: ${installHint(serverMajor)}`,
    );
  }
  return { path: file, ...parsed };
}

const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const LIBPQ_SSLMODE: Record<DatabaseConfig['ssl'], string> = {
  disable: 'disable',
  // Encrypted without certificate checks, as the app's own pool does for `no-verify`.
  'no-verify': 'require',
  'verify-full': 'verify-full',
};

/** libpq's environment for a connection URL; the password travels only in PGPASSWORD. */
export function libpqEnv(url: string, database: Pick<DatabaseConfig, 'ssl' | 'sslCaFile'>): NodeJS.ProcessEnv {
  const parsed = new URL(url);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1') || 'localhost',
    PGPORT: parsed.port || '5432',
    PGDATABASE: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
    PGSSLMODE: LIBPQ_SSLMODE[database.ssl],
    PGAPPNAME: 'cgraph-backup',
    PGCONNECT_TIMEOUT: '10',
  };
  if (parsed.username) env.PGUSER = decodeURIComponent(parsed.username);
  if (parsed.password) env.PGPASSWORD = decodeURIComponent(parsed.password);
  else delete env.PGPASSWORD;
  if (database.ssl === 'verify-full') {
    // libpq 15 has no "system CAs" setting: point it at the CA file, or the system bundle.
    const ca = database.sslCaFile ?? (existsSync(SYSTEM_CA_BUNDLE) ? SYSTEM_CA_BUNDLE : undefined);
    if (ca) env.PGSSLROOTCERT = ca;
  }
  // A service file or an inherited connection string must not redirect the tools elsewhere.
  delete env.PGSERVICE;
  delete env.PGSERVICEFILE;
  return env;
}
