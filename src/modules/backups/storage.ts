// Where dumps go: a local folder, or an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO).
// Each dump `NAME.dump` has a sidecar `NAME.dump.json` beside it (BackupRecord: size,
// SHA-256, versions) so the checksum travels with the file, survives a restore of the
// database (a table would be rolled back with it) and can be checked before restoring.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import type { S3Config } from '../../config.ts';

export interface BackupRecord {
  /** File name, `cgraph-<database>-<UTC timestamp>.dump`. */
  name: string;
  /** Absolute path, or `s3://bucket/key`. */
  location: string;
  database: string;
  createdAt: string;
  sizeBytes: number;
  sha256: string;
  format: 'pg_dump custom (-Fc)';
  pgDumpVersion: string;
  serverVersion: string;
  durationMs: number;
}

export const SIDECAR_SUFFIX = '.json';

export function backupName(database: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `cgraph-${database}-${stamp}.dump`;
}

/** Dumps of `database` sort by name in time order (the stamp is fixed-width UTC). */
export function isDumpOf(database: string, name: string): boolean {
  return name.startsWith(`cgraph-${database}-`) && name.endsWith('.dump');
}

/**
 * Passes bytes through, counting and hashing them. `beforeEnd` runs when the input has
 * ended and before the output ends, so a producer's late failure (pg_dump exiting non-zero
 * after writing) fails the stream before its consumer can take it as complete.
 */
export class DigestStream extends Transform {
  private readonly hash = createHash('sha256');
  // Not `size`: lib-storage reads a body's `size` as its length in bytes.
  private bytes = 0;

  constructor(private readonly beforeEnd: () => Promise<void> = async () => {}) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.beforeEnd().then(() => callback(), callback);
  }

  result(): { sizeBytes: number; sha256: string } {
    return { sizeBytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

export async function digestFile(file: string): Promise<{ sizeBytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sizeBytes: size, sha256: hash.digest('hex') };
}

// ---------------------------------------------------------------------------------------
// Local folder

export async function readLocalSidecar(dumpPath: string): Promise<BackupRecord | undefined> {
  try {
    return JSON.parse(await readFile(`${dumpPath}${SIDECAR_SUFFIX}`, 'utf8')) as BackupRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Keeps the newest `keep` dumps of `database` in `dir` (with their sidecars); returns the removed names. */
export async function pruneLocal(dir: string, database: string, keep: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const dumps = (await readdir(dir)).filter((name) => isDumpOf(database, name)).sort();
  const doomed = dumps.slice(0, Math.max(0, dumps.length - keep));
  for (const name of doomed) {
    await rm(path.join(dir, name), { force: true });
    await rm(path.join(dir, `${name}${SIDECAR_SUFFIX}`), { force: true });
  }
  return doomed;
}

export function s3Location(config: S3Config, key: string): string {
  return `s3://${config.bucket}/${key}`;
}
