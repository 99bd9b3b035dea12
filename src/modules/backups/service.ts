// Backups and restores of the configured database: `pg_dump -Fc` to a local folder (with
// retention) or streamed to an S3-compatible bucket (multipart), and `pg_restore` back in
// one transaction. Used by `cgraph backup` / `cgraph restore` and the daily backup job.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../../config.ts';
import { databaseNameOf } from '../../db/admin.ts';
import { lastLines, libpqEnv, PgToolError, resolvePgTool, run, serverMajorVersion } from './pg-tools.ts';
import {
  backupName,
  digestFile,
  DigestStream,
  pruneLocal,
  readLocalSidecar,
  s3Location,
  SIDECAR_SUFFIX,
  type BackupRecord,
} from './storage.ts';

/** The bucket half, loaded only when a bucket is configured (the AWS SDK is large). */
const bucket = () => import('./s3-storage.ts');

export type { BackupRecord };

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

/** The database a backup reads or a restore writes: its URL (for the tools) and a pool (for checks). */
export interface BackupTarget {
  url: string;
  pool: pg.Pool;
}

export interface BackupResult extends BackupRecord {
  /** Older dumps removed by retention. */
  removed: string[];
  /** Multipart upload parts (S3 only). */
  parts?: number;
}

/** Application names of the processes a restore must not run under (src/server.ts, `cgraph worker`). */
export const SERVING_APPLICATION_NAMES = ['cgraph-serve', 'cgraph-worker'];

const DUMP_ARGS = ['--format=custom', '--no-password'];

export interface BackupOptions {
  /** Write to this file (and its sidecar) instead of BACKUP_DIR or the bucket; no retention. */
  out?: string;
  now?: Date;
}

export async function createBackup(target: BackupTarget, config: Config, options: BackupOptions = {}): Promise<BackupResult> {
  const now = options.now ?? new Date();
  const server = await serverMajorVersion(target.pool);
  const pgDump = await resolvePgTool('pg_dump', config.backup.pgBinDir, server.major);
  const database = databaseNameOf(target.url);
  const name = backupName(database, now);
  const env = libpqEnv(target.url, config.database);
  const started = performance.now();
  const base = {
    name,
    database,
    createdAt: now.toISOString(),
    format: 'pg_dump custom (-Fc)' as const,
    pgDumpVersion: pgDump.version,
    serverVersion: server.version,
  };

  const s3 = options.out ? undefined : config.backup.s3;
  if (s3) {
    const { s3Client, uploadStream, putSidecar, pruneS3 } = await bucket();
    const client = s3Client(s3);
    try {
      const key = `${s3.prefix}${name}`;
      const { digest, parts } = await dumpToBucket(pgDump.path, env, (body) => uploadStream(client, s3, key, body));
      const record: BackupRecord = { ...base, location: s3Location(s3, key), ...digest, durationMs: elapsed(started) };
      await putSidecar(client, s3, key, record);
      const removed = await pruneS3(client, s3, database, config.backup.keep);
      return { ...record, removed, parts };
    } finally {
      client.destroy();
    }
  }

  const finalPath = options.out ? path.resolve(options.out) : path.join(config.backup.dir, name);
  const dir = path.dirname(finalPath);
  await mkdir(dir, { recursive: true });
  const partial = path.join(dir, `.${path.basename(finalPath)}.partial`);
  try {
    // Straight to a file (as plain `pg_dump -f` does), so the archive gets its data
    // offsets and the dump costs the same as running pg_dump by hand.
    await run(pgDump.path, [...DUMP_ARGS, '--file', partial], env);
    const digest = await digestFile(partial);
    await rename(partial, finalPath);
    const record: BackupRecord = { ...base, name: path.basename(finalPath), location: finalPath, ...digest, durationMs: elapsed(started) };
    await writeFile(`${finalPath}${SIDECAR_SUFFIX}`, `${JSON.stringify(record, null, 2)}\n`);
    const removed = options.out ? [] : await pruneLocal(dir, database, config.backup.keep);
    return { ...record, removed };
  } finally {
    await rm(partial, { force: true });
  }
}

/** pg_dump's stdout, hashed on the way, into `upload`; fails if either side fails. */
async function dumpToBucket(
  pgDump: string,
  env: NodeJS.ProcessEnv,
  upload: (body: DigestStream) => Promise<{ parts: number }>,
): Promise<{ digest: { sizeBytes: number; sha256: string }; parts: number }> {
  const child = spawn(pgDump, DUMP_ARGS, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new PgToolError(`pg_dump failed (${signal ?? `exit ${code}`}): ${lastLines(stderr)}`));
    });
  });
  exited.catch(() => {}); // awaited below; a failure also fails the stream
  const body = new DigestStream(() => exited);
  child.stdout.pipe(body);
  try {
    const { parts } = await upload(body);
    await exited;
    return { digest: body.result(), parts };
  } catch (error) {
    child.kill('SIGTERM');
    await exited.catch(() => {});
    throw error;
  }
}

export interface RestoreOptions {
  /** A dump file path, a file name in BACKUP_DIR, or an object key in the bucket. */
  source: string;
  /** Allow restoring in production. */
  force?: boolean;
  /** Allow restoring while `cgraph serve` / `cgraph worker` are connected. */
  whileServing?: boolean;
}

export interface RestoreResult {
  source: string;
  sizeBytes: number;
  sha256: string;
  /** True when a sidecar recorded the checksum and it matched. */
  verified: boolean;
  durationMs: number;
}

/** Connections from a serving node (`cgraph serve` or `cgraph worker`) to the target database. */
export async function servingConnections(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = ANY($1) AND pid <> pg_backend_pid()',
    [SERVING_APPLICATION_NAMES],
  );
  return rows[0]!.n;
}

export async function restoreBackup(target: BackupTarget, config: Config, options: RestoreOptions): Promise<RestoreResult> {
  const database = databaseNameOf(target.url);
  if (config.env === 'production' && !options.force) {
    throw new BackupError(`refusing to restore into the production database ${database}: pass --force if you mean it`);
  }
  if (!options.whileServing) {
    const serving = await servingConnections(target.pool);
    if (serving > 0) {
      throw new BackupError(
        `the API is serving from ${database} (${serving} connection${serving === 1 ? '' : 's'} from cgraph serve/worker): stop it first, or pass --while-serving`,
      );
    }
  }
  const server = await serverMajorVersion(target.pool);
  const pgRestore = await resolvePgTool('pg_restore', config.backup.pgBinDir, server.major);
  const started = performance.now();
  const located = await locate(options.source, config);
  try {
    const digest = await digestFile(located.file);
    if (located.record && located.record.sha256 !== digest.sha256) {
      throw new BackupError(
        `checksum mismatch for ${located.description}: the sidecar records sha256 ${located.record.sha256}, the file has ${digest.sha256}; refusing to restore`,
      );
    }
    await run(
      pgRestore.path,
      ['--clean', '--if-exists', '--single-transaction', '--exit-on-error', '--no-owner', '--no-password', '--dbname', database, located.file],
      libpqEnv(target.url, config.database),
    );
    return { source: located.description, ...digest, verified: Boolean(located.record), durationMs: elapsed(started) };
  } finally {
    await located.cleanup();
  }
}

interface Located {
  file: string;
  description: string;
  record: BackupRecord | undefined;
  cleanup(): Promise<void>;
}

async function locate(source: string, config: Config): Promise<Located> {
  const none = async () => {};
  for (const candidate of [path.resolve(source), path.join(config.backup.dir, source)]) {
    if (existsSync(candidate) && (await stat(candidate)).isFile()) {
      return { file: candidate, description: candidate, record: await readLocalSidecar(candidate), cleanup: none };
    }
  }
  const s3 = config.backup.s3;
  if (s3) {
    const { s3Client, downloadObject, readS3Sidecar } = await bucket();
    const client = s3Client(s3);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cgraph-restore-'));
    const cleanup = async () => {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    };
    try {
      const keys = source.startsWith(s3.prefix) ? [source] : [`${s3.prefix}${source}`, source];
      for (const key of keys) {
        const file = path.join(dir, 'restore.dump');
        if (await downloadObject(client, s3, key, file)) {
          return { file, description: s3Location(s3, key), record: await readS3Sidecar(client, s3, key), cleanup };
        }
      }
    } catch (error) {
      await cleanup();
      throw error;
    }
    await cleanup();
    throw new BackupError(`no backup named ${source}: not a file, not in ${config.backup.dir}, not in s3://${s3.bucket}/${s3.prefix}`);
  }
  throw new BackupError(`no backup named ${source}: not a file and not in ${config.backup.dir}`);
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
