// Ecto's preload, the Kysely way: related rows are nested into the same query as JSON
// (jsonObjectFrom for belongs_to, jsonArrayFrom for has_many), so listing posts with their
// authors and their comments with their authors is one statement however many posts,
// comments and authors there are. The naive loop costs a query per post and per comment.
import { jsonArrayFrom, jsonObjectFrom } from 'kysely/helpers/postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { countQueries, useTestDatabase } from '../../test/db.ts';
import { newId } from '../lib/ids.ts';
import type { Db } from './database.ts';

const t = useTestDatabase();

/** The seed's `preload: [:author, comments: [:author]]` for one forum's posts. */
function listPostsWithAuthorsAndComments(db: Db, forumId: string) {
  return db
    .selectFrom('forum_posts as p')
    .where('p.forum_id', '=', forumId)
    .select(['p.id', 'p.title'])
    .select((eb) => [
      jsonObjectFrom(
        eb.selectFrom('users as a').select(['a.id', 'a.username']).whereRef('a.id', '=', 'p.author_id'),
      ).as('author'),
      jsonArrayFrom(
        eb
          .selectFrom('forum_comments as c')
          .select(['c.id', 'c.content'])
          .select((inner) => [
            jsonObjectFrom(
              inner
                .selectFrom('users as ca')
                .select(['ca.id', 'ca.username'])
                .whereRef('ca.id', '=', 'c.author_id'),
            ).as('author'),
          ])
          .whereRef('c.post_id', '=', 'p.id')
          .orderBy('c.id'),
      ).as('comments'),
    ])
    .orderBy('p.id')
    .execute();
}

/** What the seed calls "Bad - N+1": one query for the posts, then one per association. */
async function listPostsNaively(db: Db, forumId: string) {
  const posts = await db
    .selectFrom('forum_posts')
    .select(['id', 'title', 'author_id'])
    .where('forum_id', '=', forumId)
    .execute();
  const out = [];
  for (const post of posts) {
    const author = await db
      .selectFrom('users')
      .select('username')
      .where('id', '=', post.author_id)
      .executeTakeFirst();
    const comments = await db
      .selectFrom('forum_comments')
      .select(['id', 'author_id'])
      .where('post_id', '=', post.id)
      .execute();
    for (const comment of comments) {
      await db.selectFrom('users').select('username').where('id', '=', comment.author_id).executeTakeFirst();
    }
    out.push({ ...post, author, comments });
  }
  return out;
}

let forumId: string;
const authors: { id: string; username: string }[] = [];

async function addPosts(n: number, commentsPerPost: number) {
  for (let i = 0; i < n; i++) {
    const postId = newId();
    const author = authors[i % authors.length]!;
    await t.db
      .insertInto('forum_posts')
      .values({ id: postId, forum_id: forumId, author_id: author.id, title: `post by ${author.username}` })
      .execute();
    for (let j = 0; j < commentsPerPost; j++) {
      const commenter = authors[(i + j + 1) % authors.length]!;
      await t.db
        .insertInto('forum_comments')
        .values({
          id: newId(),
          post_id: postId,
          author_id: commenter.id,
          content: `reply by ${commenter.username}`,
        })
        .execute();
    }
  }
}

beforeAll(async () => {
  for (const username of ['poster_a', 'poster_b', 'poster_c']) {
    const id = newId();
    await t.db
      .insertInto('users')
      .values({ id, username, email: `${username}@example.com`, password_hash: 'x' })
      .execute();
    authors.push({ id, username });
  }
  forumId = newId();
  await t.db
    .insertInto('forums')
    .values({ id: forumId, name: 'Preload', slug: 'preload', owner_id: authors[0]!.id })
    .execute();
});

describe('preloading posts → author, comments → author', () => {
  it('returns the nested rows in one query, however many posts and comments', async () => {
    await addPosts(3, 2);
    const small = await countQueries(t, () => listPostsWithAuthorsAndComments(t.db, forumId));
    expect(small.queries).toHaveLength(1);
    expect(small.result).toHaveLength(3);

    await addPosts(7, 4);
    const large = await countQueries(t, () => listPostsWithAuthorsAndComments(t.db, forumId));
    expect(large.queries).toHaveLength(1);
    expect(large.result).toHaveLength(10);

    const byId = new Map(authors.map((a) => [a.id, a.username]));
    for (const post of large.result) {
      expect(post.author).not.toBeNull();
      expect(post.title).toBe(`post by ${post.author!.username}`);
      expect(byId.get(post.author!.id)).toBe(post.author!.username);
      for (const comment of post.comments) {
        expect(comment.content).toBe(`reply by ${comment.author!.username}`);
        expect(byId.get(comment.author!.id)).toBe(comment.author!.username);
      }
    }
    expect(large.result.map((post) => post.comments.length)).toEqual([2, 2, 2, 4, 4, 4, 4, 4, 4, 4]);
  });

  it('the naive loop grows with the data (the N+1 the preload avoids)', async () => {
    const { result, queries } = await countQueries(t, () => listPostsNaively(t.db, forumId));
    const comments = result.reduce((sum, post) => sum + post.comments.length, 0);
    expect(queries).toHaveLength(1 + 2 * result.length + comments);
  });

  it('keeps a post whose author was deleted, with author null', async () => {
    const ghost = newId();
    await t.db
      .insertInto('users')
      .values({ id: ghost, username: 'ghost', email: 'ghost@example.com', password_hash: 'x' })
      .execute();
    const postId = newId();
    await t.db
      .insertInto('forum_posts')
      .values({ id: postId, forum_id: forumId, author_id: ghost, title: 'orphaned' })
      .execute();
    await t.db.deleteFrom('users').where('id', '=', ghost).execute();
    const posts = await listPostsWithAuthorsAndComments(t.db, forumId);
    expect(posts.find((post) => post.id === postId)).toMatchObject({
      title: 'orphaned',
      author: null,
      comments: [],
    });
  });
});
