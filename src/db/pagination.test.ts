import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { countQueries, useTestDatabase } from '../../test/db.ts';
import { AppError, ValidationError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { decodeCursor, encodeCursor, keysetPage, paginate, type KeysetOptions } from './pagination.ts';

const t = useTestDatabase();

let forumId: string;
let otherForumId: string;
let conversationId: string;
const POSTS = 23;

beforeAll(async () => {
  const ownerId = newId();
  await t.db
    .insertInto('users')
    .values({ id: ownerId, username: 'owner', email: 'owner@example.com', password_hash: 'x' })
    .execute();
  forumId = newId();
  otherForumId = newId();
  await t.db
    .insertInto('forums')
    .values([
      { id: forumId, name: 'Paging', slug: 'paging', owner_id: ownerId },
      { id: otherForumId, name: 'Other', slug: 'other', owner_id: ownerId },
    ])
    .execute();
  // Scores 0..3 repeat, so most rows tie on the sort key; inserted_at values sit one
  // microsecond apart inside the same millisecond, below what a JS Date can hold.
  await t.db
    .insertInto('forum_posts')
    .values(
      Array.from({ length: POSTS }, (_, i) => ({
        id: newId(),
        forum_id: forumId,
        author_id: ownerId,
        title: `post ${i}`,
        score: i % 4,
        upvotes: i % 4,
        inserted_at: sql<Date>`'2026-01-01 12:00:00.123'::timestamptz + make_interval(secs => ${i} * 0.000001)`,
      })),
    )
    .execute();
  await t.db
    .insertInto('forum_posts')
    .values({ id: newId(), forum_id: otherForumId, author_id: ownerId, title: 'elsewhere' })
    .execute();

  conversationId = newId();
  await t.db.insertInto('conversations').values({ id: conversationId, is_group: true }).execute();
  await t.db
    .insertInto('messages')
    .values(
      Array.from({ length: 12 }, (_, i) => ({
        id: newId(),
        conversation_id: conversationId,
        sender_id: ownerId,
        content: `m${i}`,
        seq: i + 1,
      })),
    )
    .execute();
});

const postsInForum = () =>
  t.db
    .selectFrom('forum_posts')
    .select(['id', 'title', 'score', 'hot', 'inserted_at'])
    .where('forum_id', '=', forumId);

describe('paginate (page numbers)', () => {
  it('returns the page and totals counted over the same filter', async () => {
    const query = postsInForum().orderBy('id');
    const all = (await query.execute()).map((row) => row.id);
    const { result: third, queries } = await countQueries(t, () =>
      paginate(t.db, query, { page: 3, pageSize: 10 }),
    );
    expect(third).toMatchObject({ page: 3, page_size: 10, total_entries: POSTS, total_pages: 3 });
    expect(third.entries.map((row) => row.id)).toEqual(all.slice(20));
    expect(queries).toHaveLength(2);
    expect(queries.filter((q) => /count\(\*\)/i.test(q))).toHaveLength(1);

    const first = await paginate(t.db, query, { page: 1, pageSize: 10 });
    expect(first.entries.map((row) => row.id)).toEqual(all.slice(0, 10));
    const beyond = await paginate(t.db, query, { page: 9, pageSize: 10 });
    expect(beyond).toMatchObject({ entries: [], total_entries: POSTS, total_pages: 3 });
  });

  it('reports an empty set as one empty page', async () => {
    const empty = t.db.selectFrom('forum_posts').select('id').where('forum_id', '=', newId()).orderBy('id');
    expect(await paginate(t.db, empty, { page: 1, pageSize: 5 })).toEqual({
      entries: [],
      page: 1,
      page_size: 5,
      total_entries: 0,
      total_pages: 1,
    });
  });

  it('rejects a page below 1 and a page size outside 1..100', async () => {
    const query = postsInForum().orderBy('id');
    for (const opts of [
      { page: 0, pageSize: 10 },
      { page: 1, pageSize: 0 },
      { page: 1, pageSize: 101 },
      { page: 1.5, pageSize: 10 },
    ]) {
      await expect(paginate(t.db, query, opts)).rejects.toBeInstanceOf(ValidationError);
    }
    const error = (await paginate(t.db, query, { page: 1, pageSize: 101 }).catch(
      (e: unknown) => e,
    )) as ValidationError;
    expect(error.fields).toEqual({ page_size: ['must be less than or equal to 100'] });
  });
});

type PostOpts = Omit<KeysetOptions<'forum_posts'>, 'cursor' | 'limit'>;

/** Follows next_cursor to the end; returns the ids in order and the page count. */
async function walk(opts: PostOpts, limit: number) {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: Awaited<ReturnType<typeof keysetPage<'forum_posts', { id: string }>>> = await keysetPage(
      postsInForum(),
      { ...opts, limit, cursor },
    );
    ids.push(...page.data.map((row) => row.id));
    cursor = page.next_cursor;
    pages += 1;
    expect(pages).toBeLessThan(50);
  } while (cursor);
  return { ids, pages };
}

async function expectedOrder(column: 'score' | 'hot' | 'inserted_at' | 'id', direction: 'asc' | 'desc') {
  const rows = await postsInForum().orderBy(column, direction).orderBy('id', direction).execute();
  return rows.map((row) => row.id);
}

describe('keysetPage', () => {
  it.each([
    ['score', 'desc', 4],
    ['score', 'asc', 5],
    ['hot', 'desc', 7],
    ['inserted_at', 'desc', 3],
    ['inserted_at', 'asc', 10],
  ] as const)(
    'walks (%s, id) %s in pages of %i without duplicates or gaps',
    async (column, direction, limit) => {
      const { ids, pages } = await walk({ sortKey: column, direction }, limit);
      expect(ids).toEqual(await expectedOrder(column, direction));
      expect(new Set(ids).size).toBe(POSTS);
      expect(pages).toBe(Math.ceil(POSTS / limit));
    },
  );

  it('walks by id alone (message history, newest first)', async () => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: { id: string }[]; next_cursor: string | null } = await keysetPage(
        t.db.selectFrom('messages').select(['id', 'seq']).where('conversation_id', '=', conversationId),
        { limit: 5, cursor },
      );
      ids.push(...page.data.map((row) => row.id));
      cursor = page.next_cursor;
    } while (cursor);
    const expected = await t.db
      .selectFrom('messages')
      .select('id')
      .where('conversation_id', '=', conversationId)
      .orderBy('id', 'desc')
      .execute();
    expect(ids).toEqual(expected.map((row) => row.id));
  });

  it('runs one row comparison query with LIMIT n+1 and returns only the selected columns', async () => {
    const first = await keysetPage(postsInForum(), { sortKey: 'score', limit: 4 });
    expect(first.next_cursor).not.toBeNull();
    const { result, queries } = await countQueries(t, () =>
      keysetPage(postsInForum(), { sortKey: 'score', limit: 4, cursor: first.next_cursor }),
    );
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/\("score", "id"\) < \(\$\d+, \$\d+\)/);
    expect(queries[0]).toMatch(/order by "score" desc, "id" desc limit \$\d+/i);
    expect(Object.keys(result.data[0]!).sort()).toEqual(['hot', 'id', 'inserted_at', 'score', 'title']);
  });

  it('has no next cursor on the last page, even when it is exactly full', async () => {
    const page = await keysetPage(postsInForum(), { sortKey: 'score', limit: POSTS });
    expect(page.data).toHaveLength(POSTS);
    expect(page.next_cursor).toBeNull();
  });

  it('rejects malformed and tampered cursors with invalid_cursor (400)', async () => {
    const bad = [
      'not base64!',
      Buffer.from('{"not":"an array"}').toString('base64url'),
      Buffer.from('not json').toString('base64url'),
      encodeCursor(['1']), // one value where (score, id) needs two
      encodeCursor(['high', newId()]), // a score that is not an integer
      encodeCursor(['1', 'not-a-uuid']),
    ];
    for (const cursor of bad) {
      const error = await keysetPage(postsInForum(), { sortKey: 'score', limit: 5, cursor }).catch(
        (e: unknown) => e,
      );
      expect(error, cursor).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: 'invalid_cursor', status: 400 });
    }
  });

  it('encodes cursors as base64url JSON that decodes back', () => {
    const cursor = encodeCursor(['2026-01-01 12:00:00.123456+00', '0190d8a6-0000-7000-8000-000000000000']);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, 2)).toEqual([
      '2026-01-01 12:00:00.123456+00',
      '0190d8a6-0000-7000-8000-000000000000',
    ]);
  });

  it('rejects a limit outside 1..100', async () => {
    await expect(keysetPage(postsInForum(), { limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(keysetPage(postsInForum(), { limit: 101 })).rejects.toBeInstanceOf(ValidationError);
  });
});
