// Uploads in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), behind the same
// AttachmentStorage interface as the local folder; imported only when a bucket is configured.
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Config } from '../../config.ts';
import { s3Client } from '../backups/s3-storage.ts';
import { checkKey, type AttachmentStorage, type StoredObject } from './storage.ts';

export class S3Storage implements AttachmentStorage {
  readonly kind = 's3' as const;
  private readonly client: S3Client;

  constructor(readonly config: S3Config) {
    // The backups' client construction: same SDK pin, same endpoint / path-style handling.
    this.client = s3Client(config);
  }

  private objectKey(key: string): string {
    return `${this.config.prefix}${checkKey(key)}`;
  }

  async put(key: string, body: Readable, contentType: string): Promise<void> {
    // lib-storage: one PUT for small files, a multipart upload (aborted on failure) above a part.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: this.objectKey(key), Body: body, ContentType: contentType },
      partSize: this.config.partSizeBytes,
      queueSize: 2,
      leavePartsOnError: false,
    });
    // A failing source stream does not always reach the SDK; abort so done() settles.
    const failed = new Promise<never>((_resolve, reject) => {
      body.once('error', (error) => {
        void upload.abort().catch(() => undefined);
        reject(error);
      });
    });
    await Promise.race([upload.done(), failed]);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
      if (!result.Body) return undefined;
      return { body: result.Body as Readable, size: result.ContentLength };
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
  }

  close(): void {
    this.client.destroy();
  }
}
