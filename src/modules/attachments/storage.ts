// Where uploaded files live: a folder under the data directory (the default), or an
// S3-compatible bucket (AWS S3, Cloudflare R2, MinIO) when ATTACHMENT_S3_BUCKET is set.
// One interface for both, so the service (and channel messages, later) never care which.
// The database row (attachments.storage_key) names the object; the bytes are written
// before the row exists and removed if the row is never written.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AttachmentsConfig } from '../../config.ts';

export interface StoredObject {
  body: Readable;
  /** Bytes, when the store knows them up front. */
  size?: number | undefined;
}

export interface AttachmentStorage {
  readonly kind: 'local' | 's3';
  /**
   * Writes `body` under `key`. Resolves once the object is complete; if the stream fails
   * (too large, client gone) nothing is left behind and the error propagates.
   */
  put(key: string, body: Readable, contentType: string): Promise<void>;
  /** The object's bytes, or undefined when it does not exist. */
  get(key: string): Promise<StoredObject | undefined>;
  /** Removes the object; a missing one is not an error. */
  delete(key: string): Promise<void>;
  close(): void;
}

/** Keys are `<2 hex>/<attachment id>`: the id's last byte spreads files over 256 folders. */
export function storageKey(attachmentId: string): string {
  return `${attachmentId.slice(-2)}/${attachmentId}`;
}

const KEY = /^[0-9a-f]{2}\/[0-9a-f-]{36}$/;

export function checkKey(key: string): string {
  // Keys come from our own rows, but a path must never escape the folder whatever happens.
  if (!KEY.test(key)) throw new Error(`attachment storage: malformed key ${JSON.stringify(key)}`);
  return key;
}

export class LocalStorage implements AttachmentStorage {
  readonly kind = 'local' as const;
  constructor(readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, checkKey(key));
  }

  async put(key: string, body: Readable): Promise<void> {
    const target = this.file(key);
    await mkdir(path.dirname(target), { recursive: true });
    // Written beside the target and renamed into place: a reader never sees half a file.
    const partial = `${target}.partial`;
    try {
      await pipeline(body, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const file = this.file(key);
    const stream = createReadStream(file);
    // Open first, so a missing file is "not found" rather than a failed response mid-way.
    return new Promise((resolve, reject) => {
      stream.once('open', () => resolve({ body: stream }));
      stream.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') resolve(undefined);
        else reject(error);
      });
    });
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  close(): void {}
}

/**
 * The configured store: the bucket when one is configured, else the local folder. The
 * bucket driver (and with it the AWS SDK, tens of MB) is loaded only in the first case.
 */
export async function createAttachmentStorage(config: AttachmentsConfig): Promise<AttachmentStorage> {
  if (!config.s3) return new LocalStorage(config.dir);
  const { S3Storage } = await import('./s3-storage.ts');
  return new S3Storage(config.s3);
}
