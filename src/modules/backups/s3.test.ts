// The S3 path against a local S3-compatible server (s3rver on loopback, random port, temp
// directory): a multipart upload of a dump larger than one part, its sidecar, retention in
// the bucket, and a restore from an object key.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../config.ts';
import { useTestDatabase } from '../../../test/db.ts';
import { startLocalS3, type LocalS3 } from '../../../test/s3-server.ts';
import { tableChecksums } from './checksums.ts';
import { createBackup, restoreBackup } from './service.ts';
import { readS3Sidecar, s3Client } from './s3-storage.ts';

const t = useTestDatabase();
let s3: LocalS3;
let config: Config;

beforeAll(async () => {
  s3 = await startLocalS3();
  config = loadConfig({ DATABASE_URL: t.url, LOG_LEVEL: 'silent', BACKUP_KEEP: '1', BACKUP_S3_PREFIX: 'nightly/', ...s3.env });
  // ~12 MB of random hex: about 6 MB compressed, more than one 5 MiB part.
  await t.pool.query(
    `CREATE TABLE s3_blob AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS v FROM generate_series(1, 200000) g`,
  );
  await t.pool.query(`INSERT INTO users (id, username, email, password_hash) VALUES (gen_random_uuid(), 'bucketeer', 'b@example.com', 'x')`);
});
afterAll(async () => {
  await s3?.close();
});

it('streams the dump to the bucket in parts, records size and SHA-256, keeps BACKUP_KEEP, and restores from the key', async () => {
  const first = await createBackup(t, config, { now: new Date(Date.UTC(2026, 0, 1, 3)) });
  expect(first.parts).toBeGreaterThan(1);
  expect(first.sizeBytes).toBeGreaterThan(5 * 1024 * 1024);
  expect(first.location).toBe(`s3://${s3.bucket}/nightly/${first.name}`);

  const client = s3Client(config.backup.s3!);
  try {
    const sidecar = await readS3Sidecar(client, config.backup.s3!, `nightly/${first.name}`);
    expect(sidecar).toMatchObject({ sizeBytes: first.sizeBytes, sha256: first.sha256, database: t.name });

    const before = await tableChecksums(t.pool);
    const second = await createBackup(t, config, { now: new Date(Date.UTC(2026, 0, 2, 3)) });
    expect(second.removed).toEqual([`nightly/${first.name}`]);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([`nightly/${second.name}`, `nightly/${second.name}.json`]);

    await t.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    const restored = await restoreBackup(t, config, { source: second.name });
    expect(restored).toMatchObject({ source: second.location, sha256: second.sha256, sizeBytes: second.sizeBytes, verified: true });
    expect(await tableChecksums(t.pool)).toEqual(before);
    expect(before['public.s3_blob']!.rows).toBe(200_000);
  } finally {
    client.destroy();
  }
});
