// The S3 store against a local S3-compatible server (s3rver on loopback, started here):
// uploads land in the bucket under ATTACHMENT_S3_PREFIX, participants fetch them through
// the API, a deleted message removes its object, and a failed upload leaves nothing.
import { Readable } from 'node:stream';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { startLocalS3 } from '../../../test/s3-server.ts';
import { s3Client } from '../backups/s3-storage.ts';
import { S3Storage } from './s3-storage.ts';
import { storageKey } from './storage.ts';
import { multipartBody, PNG } from './test-helpers.ts';

const s3 = await startLocalS3('cgraph-attachments');
const env = {
  ATTACHMENT_S3_BUCKET: s3.bucket,
  ATTACHMENT_S3_PREFIX: 'uploads/',
  ATTACHMENT_S3_ENDPOINT: s3.endpoint,
  ATTACHMENT_S3_REGION: 'us-east-1',
  ATTACHMENT_S3_ACCESS_KEY_ID: s3.accessKeyId,
  ATTACHMENT_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  ATTACHMENT_S3_FORCE_PATH_STYLE: 'true',
  ATTACHMENT_MAX_BYTES: '100000',
};
const api = useTestApp(env);
afterAll(() => s3.close());

const keysInBucket = async () => {
  const client = s3Client(api.t.config.attachments.s3!);
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  } finally {
    client.destroy();
  }
};

describe('attachments in S3', () => {
  it('uploads to the bucket, serves participants only, and deletes with the message', async () => {
    expect(api.t.config.attachments.s3).toMatchObject({ bucket: s3.bucket, prefix: 'uploads/', forcePathStyle: true });
    const [ann, bob, eve] = await Promise.all(['s3_ann', 's3_bob', 's3_eve'].map((n) => api.register(n)));
    const dm = (
      await api.call({ method: 'POST', url: '/api/v1/conversations', token: ann!.token, payload: { user_ids: [bob!.user.id] } })
    ).json().id;
    const up = await api.call({
      method: 'POST',
      url: '/api/v1/attachments',
      token: ann!.token,
      ...multipartBody({ filename: 'cat.png', contentType: 'image/png', data: PNG }),
    });
    expect(up.statusCode).toBe(201);
    const { id, url } = up.json();
    expect(await keysInBucket()).toEqual([`uploads/${storageKey(id)}`]);
    const client = s3Client(api.t.config.attachments.s3!);
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `uploads/${storageKey(id)}` }));
    client.destroy();
    expect([head.ContentLength, head.ContentType]).toEqual([PNG.length, 'image/png']);

    const msg = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${dm}/messages`,
      token: ann!.token,
      payload: { content: 'look', type: 'image', attachment_ids: [id] },
    });
    expect(msg.statusCode).toBe(201);
    const fetched = await api.call({ method: 'GET', url, token: bob!.token });
    expect(fetched.statusCode).toBe(200);
    expect(fetched.rawPayload.equals(PNG)).toBe(true);
    expect((await api.call({ method: 'GET', url, token: eve!.token })).statusCode).toBe(404);

    const del = await api.call({ method: 'DELETE', url: `/api/v1/conversations/${dm}/messages/${msg.json().id}`, token: ann!.token });
    expect(del.statusCode).toBe(204);
    await expect.poll(keysInBucket).toEqual([]);
  });

  it('a too-large upload is 413 and leaves no object', async () => {
    const ann = await api.register('s3_big');
    const res = await api.call({
      method: 'POST',
      url: '/api/v1/attachments',
      token: ann.token,
      ...multipartBody({ filename: 'big.txt', contentType: 'text/plain', data: Buffer.alloc(100_001, 120) }),
    });
    expect(res.statusCode).toBe(413);
    expect(await keysInBucket()).toEqual([]);
  });

  it('the driver: put, get, delete; a failing stream leaves nothing; a missing key is undefined', async () => {
    const storage = new S3Storage(api.t.config.attachments.s3!);
    try {
      const key = storageKey('0195f2a0-0000-7000-8000-0000000000ab');
      await storage.put(key, Readable.from([Buffer.from('hello '), Buffer.from('s3')]), 'text/plain');
      const got = await storage.get(key);
      const chunks: Buffer[] = [];
      for await (const chunk of got!.body) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('hello s3');
      await storage.delete(key);
      expect(await storage.get(key)).toBeUndefined();

      const failing = new Readable({
        read() {
          this.destroy(new Error('client went away'));
        },
      });
      await expect(storage.put(storageKey('0195f2a0-0000-7000-8000-0000000000cd'), failing, 'text/plain')).rejects.toThrow();
      expect(await keysInBucket()).toEqual([]);
    } finally {
      storage.close();
    }
  });
});
