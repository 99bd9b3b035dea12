// `cgraph backup` / `cgraph restore` as a user runs them (child processes), against data
// created through the API; retention, the pg_dump checks and the restore guards.
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.ts';
import { useTestApp } from '../../../test/app-harness.ts';
import { cgraph } from '../../../test/run-cli.ts';
import { tableChecksums } from './checksums.ts';
import { createBackup, restoreBackup } from './service.ts';
import type { BackupRecord } from './storage.ts';

const api = useTestApp();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cgraph-backups-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ DATABASE_URL: api.t.url, BACKUP_DIR: dir, BACKUP_KEEP: '7' });

async function wipe(pool: pg.Pool): Promise<void> {
  await pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS pgboss CASCADE');
}

describe('backup and restore', () => {
  it('backs up, wipes and restores every row exactly (row counts and a checksum per table)', async () => {
    for (const name of ['ada', 'grace', 'linus']) await api.register(name);
    const login = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'ada', password: 'correct horse battery' } });
    expect(login.statusCode).toBe(200);
    const account = privateKeyToAccount(generatePrivateKey());
    const { message } = (await api.call({ method: 'POST', url: '/api/v1/auth/wallet/nonce', payload: { address: account.address } })).json<{
      message: string;
    }>();
    const signedIn = await api.call({ method: 'POST', url: '/api/v1/auth/wallet/verify', payload: { message, signature: await account.signMessage({ message }) } });
    expect(signedIn.statusCode).toBe(200);
    await api.call({ method: 'POST', url: '/api/v1/auth/wallet/nonce', payload: { address: account.address } });

    const before = await tableChecksums(api.t.pool);
    expect(before['public.users']!.rows).toBe(4);
    expect(before['public.sessions']!.rows).toBeGreaterThanOrEqual(5);
    expect(before['public.wallet_nonces']!.rows).toBe(2);

    const backup = await cgraph(['backup'], env());
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const file = /^backup (.+)$/m.exec(backup.stdout)![1]!;
    expect(path.dirname(file)).toBe(dir);
    const record = JSON.parse(await readFile(`${file}.json`, 'utf8')) as BackupRecord;
    expect(record.sizeBytes).toBeGreaterThan(0);
    expect(record.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(backup.stdout).toContain(`sha256 ${record.sha256}`);

    await wipe(api.t.pool);
    expect(await tableChecksums(api.t.pool)).toEqual({});

    const restore = await cgraph(['restore', file], env());
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(restore.stdout).toContain('matches its sidecar');
    expect(await tableChecksums(api.t.pool)).toEqual(before);
    // The API works on the restored data.
    const again = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'grace', password: 'correct horse battery' } });
    expect(again.statusCode).toBe(200);
  });

  it('restores by file name from BACKUP_DIR and refuses a dump whose checksum does not match', async () => {
    const config = loadConfig({ ...env(), LOG_LEVEL: 'silent' });
    const record = await createBackup(api.t, config);
    const restored = await restoreBackup(api.t, config, { source: record.name });
    expect(restored).toMatchObject({ source: record.location, sha256: record.sha256, verified: true });

    const copy = await createBackup(api.t, config, { out: path.join(dir, 'tampered', 'x.dump') });
    await writeFile(`${copy.location}.json`, JSON.stringify({ ...copy, sha256: '0'.repeat(64) }));
    await expect(restoreBackup(api.t, config, { source: copy.location })).rejects.toThrow(
      /^checksum mismatch for .*x\.dump: the sidecar records sha256 0{64}, the file has [0-9a-f]{64}; refusing to restore$/,
    );
    await expect(restoreBackup(api.t, config, { source: 'nope.dump' })).rejects.toThrow(/^no backup named nope\.dump: not a file and not in /);
  });

  it('keeps the newest BACKUP_KEEP dumps', async () => {
    const keepDir = path.join(dir, 'retention');
    const config = loadConfig({ DATABASE_URL: api.t.url, BACKUP_DIR: keepDir, BACKUP_KEEP: '2', LOG_LEVEL: 'silent' });
    const made: string[] = [];
    for (let day = 1; day <= 4; day++) {
      const backup = await createBackup(api.t, config, { now: new Date(Date.UTC(2026, 0, day, 3)) });
      made.push(backup.name);
    }
    const files = (await readdir(keepDir)).sort();
    expect(files).toEqual([made[2], `${made[2]}.json`, made[3], `${made[3]}.json`]);
    expect(made[3]).toMatch(/^cgraph-cgraph_t_[0-9a-f]+-20260104T030000Z\.dump$/);
  });

  it('a missing pg_dump, or one too old for the server, is one clear line naming what to install', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'cgraph-nopath-'));
    try {
      const run = await cgraph(['backup'], { ...env(), PATH: empty });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^cgraph: pg_dump was not found on PATH: install the PostgreSQL \d+ client tools \(Debian\/Ubuntu: apt-get install postgresql-client-\d+;.*\n$/);

      const old = path.join(empty, 'pg_dump');
      await writeFile(old, '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n');
      await chmod(old, 0o755);
      const config = loadConfig({ ...env(), CGRAPH_PG_BIN_DIR: empty, LOG_LEVEL: 'silent' });
      await expect(createBackup(api.t, config)).rejects.toThrow(
        /^pg_dump 9\.6 \(.*\) is older than the PostgreSQL \d+ server and cannot dump it: install the PostgreSQL \d+ client tools \(Debian\/Ubuntu: apt-get install postgresql-client-\d+/,
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('refuses to restore while the API is serving, and in production without --force', async () => {
    const config = loadConfig({ ...env(), LOG_LEVEL: 'silent' });
    const { location } = await createBackup(api.t, config, { out: path.join(dir, 'guard', 'g.dump') });
    const serving = new pg.Client({ connectionString: api.t.url, application_name: 'cgraph-serve' });
    await serving.connect();
    try {
      await expect(restoreBackup(api.t, config, { source: location })).rejects.toThrow(
        /^the API is serving from cgraph_t_\w+ \(1 connection from cgraph serve\/worker\): stop it first, or pass --while-serving$/,
      );
      await expect(restoreBackup(api.t, config, { source: location, whileServing: true })).resolves.toMatchObject({ verified: true });
    } finally {
      await serving.end();
    }
    const production = loadConfig({ ...env(), NODE_ENV: 'production', DATABASE_SSL: 'disable', LOG_LEVEL: 'silent' });
    await expect(restoreBackup(api.t, production, { source: location })).rejects.toThrow(
      /^refusing to restore into the production database cgraph_t_\w+: pass --force if you mean it$/,
    );
    await expect(restoreBackup(api.t, production, { source: location, force: true })).resolves.toMatchObject({ verified: true });
  });
});
