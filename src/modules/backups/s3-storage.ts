// Dumps in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO). Kept apart from
// storage.ts and imported only when a bucket is configured: the AWS SDK is tens of MB of
// memory that a node writing to a local folder never needs.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Config } from '../../config.ts';
import { isDumpOf, SIDECAR_SUFFIX, type BackupRecord } from './storage.ts';

export function s3Client(config: S3Config): S3Client {
  // The SDK is pinned to a release that supports Node 20 (package.json); its multi-line
  // notice that later releases will need Node 22 would break the CLI's one-line output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    forcePathStyle: config.forcePathStyle,
  });
}

/**
 * Streams `body` into `key` (multipart above one part: lib-storage uploads parts of
 * `partSizeBytes` four at a time, and aborts the upload when the stream fails).
 */
export async function uploadStream(
  client: S3Client,
  config: S3Config,
  key: string,
  body: Readable,
): Promise<{ parts: number }> {
  const upload = new Upload({
    client,
    params: { Bucket: config.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
    partSize: config.partSizeBytes,
    queueSize: 4,
    leavePartsOnError: false,
  });
  let parts = 0;
  upload.on('httpUploadProgress', (progress) => {
    parts = Math.max(parts, progress.part ?? 0);
  });
  await upload.done();
  return { parts };
}

export async function putSidecar(client: S3Client, config: S3Config, key: string, record: BackupRecord): Promise<void> {
  await client.send(
    new PutObjectCommand({
      Bucket: config.bucket,
      Key: `${key}${SIDECAR_SUFFIX}`,
      Body: `${JSON.stringify(record, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}

async function listKeys(client: S3Client, config: S3Config, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: config.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o: _Object) => o.Key!).filter(Boolean));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Keeps the newest `keep` dumps of `database` under the prefix; returns the removed keys. */
export async function pruneS3(client: S3Client, config: S3Config, database: string, keep: number): Promise<string[]> {
  const dumps = (await listKeys(client, config, `${config.prefix}cgraph-${database}-`))
    .filter((key) => isDumpOf(database, key.slice(config.prefix.length)))
    .sort();
  const doomed = dumps.slice(0, Math.max(0, dumps.length - keep));
  for (const key of doomed) {
    await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key }));
    await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: `${key}${SIDECAR_SUFFIX}` }));
  }
  return doomed;
}

function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** Downloads `key` to `file`; undefined when there is no such object. */
export async function downloadObject(client: S3Client, config: S3Config, key: string, file: string): Promise<boolean> {
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: config.bucket, Key: key }));
    await pipeline(object.Body as Readable, createWriteStream(file));
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

export async function readS3Sidecar(client: S3Client, config: S3Config, key: string): Promise<BackupRecord | undefined> {
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: config.bucket, Key: `${key}${SIDECAR_SUFFIX}` }));
    return JSON.parse(await object.Body!.transformToString('utf8')) as BackupRecord;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}
