import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import { tableChecksums } from './checksums.ts';

const t = useTestDatabase();

describe('tableChecksums', () => {
  it('ignores row order and sees any changed, added or removed row', async () => {
    await t.pool.query('CREATE TABLE ck (id int PRIMARY KEY, v text)');
    await t.pool.query("INSERT INTO ck SELECT g, 'v' || g FROM generate_series(1, 1000) g");
    const before = (await tableChecksums(t.pool))['public.ck']!;
    expect(before.rows).toBe(1000);

    // The same rows written in another physical order.
    await t.pool.query('CREATE TABLE ck_copy AS SELECT * FROM ck ORDER BY id DESC');
    await t.pool.query('DROP TABLE ck');
    await t.pool.query('ALTER TABLE ck_copy RENAME TO ck');
    expect((await tableChecksums(t.pool))['public.ck']).toEqual(before);

    await t.pool.query("UPDATE ck SET v = 'w500' WHERE id = 500");
    const changed = (await tableChecksums(t.pool))['public.ck']!;
    expect(changed.rows).toBe(1000);
    expect(changed.checksum).not.toBe(before.checksum);

    await t.pool.query("UPDATE ck SET v = 'v500' WHERE id = 500");
    await t.pool.query('DELETE FROM ck WHERE id = 1');
    expect((await tableChecksums(t.pool))['public.ck']!.checksum).not.toBe(before.checksum);
  });
});
