import { describe, expect, it } from 'vitest';
import { countQueries, useTestDatabase } from '../../test/db.ts';
import { AppError, NotFoundError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { aggregate, count, countBy, countQuery, get, getBy, getByOrThrow, getOrThrow } from './repo.ts';

const t = useTestDatabase();

async function insertUser(username: string, extra: { email?: string | null } = {}) {
  return t.db
    .insertInto('users')
    .values({
      id: newId(),
      username,
      email: extra.email === undefined ? `${username}@example.com` : extra.email,
      password_hash: 'x',
      wallet_address: extra.email === null ? `0x${newId().replace(/-/g, '').padEnd(40, '0')}` : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function insertConversation() {
  const id = newId();
  await t.db.insertInto('conversations').values({ id, is_group: true, name: 'group' }).execute();
  return id;
}

async function insertMessages(conversationId: string, senderId: string, n: number, firstSeq: number) {
  await t.db
    .insertInto('messages')
    .values(
      Array.from({ length: n }, (_, i) => ({
        id: newId(),
        conversation_id: conversationId,
        sender_id: senderId,
        content: `message ${firstSeq + i}`,
        seq: firstSeq + i,
      })),
    )
    .execute();
}

describe('get / getOrThrow', () => {
  it('finds a row by id, typed as the table row', async () => {
    const alice = await insertUser('alice');
    const found = await get(t.db, 'users', alice.id);
    expect(found?.username).toBe('alice');
    expect(found?.email).toBe('alice@example.com');
    expect(found?.inserted_at).toBeInstanceOf(Date);
  });

  it('returns undefined for an unknown id, and for a malformed one without asking PostgreSQL', async () => {
    expect(await get(t.db, 'users', newId())).toBeUndefined();
    const { result, queries } = await countQueries(t, () => get(t.db, 'users', 'not-a-uuid'));
    expect(result).toBeUndefined();
    expect(queries).toHaveLength(0);
  });

  it('getOrThrow raises a 404 NotFoundError like Repo.get!', async () => {
    const bob = await insertUser('bob');
    expect((await getOrThrow(t.db, 'users', bob.id)).username).toBe('bob');
    const error = await getOrThrow(t.db, 'users', newId(), 'user').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'not_found', status: 404, message: 'user not found' });
  });
});

describe('getBy / getByOrThrow', () => {
  it('matches on several columns at once', async () => {
    await insertUser('carol');
    expect((await getBy(t.db, 'users', { username: 'carol', is_admin: false }))?.username).toBe('carol');
    expect(await getBy(t.db, 'users', { username: 'carol', is_admin: true })).toBeUndefined();
  });

  it('compares email case-insensitively (citext)', async () => {
    await insertUser('dave', { email: 'Dave@Example.com' });
    expect((await getBy(t.db, 'users', { email: 'dave@EXAMPLE.COM' }))?.username).toBe('dave');
  });

  it('refuses null and undefined values instead of matching a NULL column', async () => {
    await insertUser('walletonly', { email: null });
    const missing = { email: undefined } as unknown as { email: string };
    await expect(getBy(t.db, 'users', missing)).rejects.toThrow(/email is undefined/);
    await expect(getBy(t.db, 'users', { email: null } as unknown as { email: string })).rejects.toThrow(
      /email is null/,
    );
    await expect(getBy(t.db, 'users', {})).rejects.toThrow(/empty filter/);
  });

  it('getByOrThrow raises NotFoundError', async () => {
    await expect(getByOrThrow(t.db, 'users', { username: 'nobody' })).rejects.toBeInstanceOf(AppError);
    expect((await getByOrThrow(t.db, 'users', { username: 'carol' })).username).toBe('carol');
  });
});

describe('aggregates', () => {
  it("counts the seed's messages per sender, one sender or all at once", async () => {
    const erin = await insertUser('erin');
    const frank = await insertUser('frank');
    const quiet = await insertUser('quiet');
    const conversation = await insertConversation();
    await insertMessages(conversation, erin.id, 3, 1);
    await insertMessages(conversation, frank.id, 5, 4);

    expect(await count(t.db, 'messages', { sender_id: erin.id })).toBe(3);
    expect(await count(t.db, 'messages', { sender_id: quiet.id })).toBe(0);
    expect(await count(t.db, 'messages', { conversation_id: conversation })).toBe(8);

    const perSender = await countBy(t.db, 'messages', 'sender_id', { conversation_id: conversation });
    expect(perSender).toEqual(
      new Map([
        [erin.id, 3],
        [frank.id, 5],
      ]),
    );

    expect(await aggregate(t.db, 'messages', 'max', 'seq', { conversation_id: conversation })).toBe(8);
    expect(await aggregate(t.db, 'messages', 'sum', 'seq', { sender_id: erin.id })).toBe(6);
    expect(await aggregate(t.db, 'messages', 'avg', 'seq', { sender_id: frank.id })).toBe(6);
    expect(await aggregate(t.db, 'messages', 'sum', 'seq', { sender_id: quiet.id })).toBeNull();
  });

  it('countQuery counts any filtered, ordered query in one statement', async () => {
    const query = t.db
      .selectFrom('users')
      .select(['id', 'username'])
      .where('username', 'like', '%a%')
      .orderBy('id');
    const expected = (await query.execute()).length;
    expect(expected).toBeGreaterThan(1);
    const { result, queries } = await countQueries(t, () => countQuery(t.db, query));
    expect(result).toBe(expected);
    expect(queries).toHaveLength(1);
    expect(queries[0]).not.toMatch(/order by/i);
  });
});

describe('select only what you need', () => {
  // Ecto's `select: %{id: u.id, username: u.username}` is Kysely's select list: the row type
  // has exactly those keys, and so does the row.
  it('returns just the selected columns', async () => {
    const rows = await t.db
      .selectFrom('users')
      .select(['id', 'username'])
      .orderBy('username')
      .limit(2)
      .execute();
    expect(rows.length).toBe(2);
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(['id', 'username']);
  });
});
