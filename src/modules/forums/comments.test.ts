// Comments: the tree in one statement, its sorts, deletes that keep the thread's shape,
// locks, bad parents, comment_count under concurrent writers, and the notifications that
// replies and mentions send (never to oneself, never from someone the recipient blocked).
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { countQueries, explainPlan } from '../../../test/db.ts';
import { createEventBus, type DomainEvent } from '../../events/bus.ts';
import { wilsonLowerBound } from './comment-tree.ts';
import { newId } from '../../lib/ids.ts';
import { commentsWithDetails, commentTreeQuery, createComment, deleteComment, listComments } from './comments.ts';

const api = useTestApp({ POOL_SIZE: '24' });
type User = Awaited<ReturnType<typeof api.register>>;
interface Tree {
  id: string;
  content: string | null;
  deleted: boolean;
  author: { username: string } | null;
  replies: Tree[];
  more_replies: number;
}

const call = (user: User | undefined, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  api.call({ method, url: `/api/v1${url}`, ...(user ? { token: user.token } : {}), ...(payload ? { payload } : {}) });

async function setup(prefix: string, extra: object = {}) {
  const owner = await api.register(`${prefix}_owner`);
  const slug = prefix.replaceAll('_', '-');
  expect((await call(owner, 'POST', '/forums', { name: prefix, slug, ...extra })).statusCode).toBe(201);
  const post = (await call(owner, 'POST', `/forums/${slug}/posts`, { title: 'talk', type: 'text' })).json<{ id: string }>();
  return { owner, slug, postId: post.id };
}

const reply = async (user: User, postId: string, content: string, parentId?: string) => {
  const res = await call(user, 'POST', `/posts/${postId}/comments`, { content, ...(parentId ? { parent_id: parentId } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; depth: number }>();
};
const tree = async (user: User | undefined, postId: string, query = '') =>
  (await call(user, 'GET', `/posts/${postId}/comments${query}`)).json<{ data: Tree[]; next_cursor: string | null }>();
const shape = (nodes: Tree[]): unknown => nodes.map((n) => [n.content ?? '[deleted]', shape(n.replies)]);

describe('the comment tree', () => {
  it('nests replies to any depth, in two statements whatever the size, and keeps its shape when a comment with replies is deleted', async () => {
    const { owner, postId } = await setup('ct_tree');
    const bob = await api.register('ct_bob');
    const a = await reply(owner, postId, 'a');
    const a1 = await reply(bob, postId, 'a1', a.id);
    const a1x = await reply(owner, postId, 'a1x', a1.id);
    let parent = a1x.id;
    for (let depth = 4; depth <= 30; depth++) parent = (await reply(bob, postId, `d${depth}`, parent)).id;
    expect((await call(bob, 'GET', `/posts/${postId}`)).json().comment_count).toBe(30);

    // The whole tree's shape is one statement, the shown comments' contents one more.
    const { queries } = await countQueries(api.t, () => listComments(api.t.db, bob.user.id, postId, { sort: 'new', limit: 50 }));
    expect(queries.filter((q) => /forum_comments/.test(q))).toHaveLength(2);

    let node = (await tree(bob, postId, '?sort=new')).data[0]!;
    let depth = 0;
    while (node.replies.length) [node, depth] = [node.replies[0]!, depth + 1];
    expect([node.content, depth]).toEqual(['d30', 29]);

    // Deleting a1 (which has replies) keeps its place; deleting a leaf removes it.
    expect((await call(bob, 'DELETE', `/comments/${a1.id}`)).statusCode).toBe(204);
    const after = (await tree(bob, postId, '?sort=new')).data;
    expect(after[0]!.replies[0]).toMatchObject({ id: a1.id, deleted: true, content: null, author: null });
    expect(after[0]!.replies[0]!.replies[0]!.content).toBe('a1x');
    expect((await call(bob, 'GET', `/posts/${postId}`)).json().comment_count).toBe(29);
    const leaf = await reply(bob, postId, 'leaf', a.id);
    await call(bob, 'DELETE', `/comments/${leaf.id}`);
    expect(shape((await tree(bob, postId, '?sort=new')).data)).toEqual(shape(after));
    // A deleted comment cannot be replied to, edited or voted on.
    expect((await call(owner, 'POST', `/posts/${postId}/comments`, { content: 'x', parent_id: a1.id })).statusCode).toBe(422);
    expect((await call(bob, 'PATCH', `/comments/${a1.id}`, { content: 'back' })).statusCode).toBe(404);
    expect((await call(bob, 'POST', `/comments/${a1.id}/vote`, { value: 1 })).statusCode).toBe(404);
  });

  it('sorts siblings by best (Wilson lower bound), top (score) and new', async () => {
    const { owner, postId } = await setup('ct_sort');
    const c1 = await reply(owner, postId, 'one up of one');
    const c2 = await reply(owner, postId, 'ten up, two down');
    const c3 = await reply(owner, postId, 'newest, no votes');
    const setVotes = (commentId: string, up: number, down: number) =>
      sql`INSERT INTO comment_votes (comment_id, user_id, value)
          SELECT ${commentId}::uuid, u.id, CASE WHEN row_number() OVER () <= ${up} THEN 1 ELSE -1 END
          FROM (SELECT id FROM users ORDER BY id LIMIT ${up + down}) u`.execute(api.t.db);
    for (let i = 0; i < 12; i++) await api.register(`ct_voter${i}`);
    await setVotes(c1.id, 1, 0);
    await setVotes(c2.id, 10, 2);
    expect(wilsonLowerBound(10, 2)).toBeGreaterThan(wilsonLowerBound(1, 0));
    const ids = async (sort: string) => (await tree(owner, postId, `?sort=${sort}`)).data.map((n) => n.id);
    expect(await ids('best')).toEqual([c2.id, c1.id, c3.id]);
    expect(await ids('top')).toEqual([c2.id, c1.id, c3.id]);
    expect(await ids('new')).toEqual([c3.id, c2.id, c1.id]);
    // Paging the top level: the cursor carries the sort key and the id.
    const first = await tree(owner, postId, '?sort=best&limit=2');
    expect(first.data.map((n) => n.id)).toEqual([c2.id, c1.id]);
    const second = await tree(owner, postId, `?sort=best&limit=2&cursor=${first.next_cursor}`);
    expect(second).toMatchObject({ data: [{ id: c3.id }], next_cursor: null });
    expect((await call(owner, 'GET', `/posts/${postId}/comments?sort=top&cursor=${first.next_cursor}`)).statusCode).toBe(400);
    expect((await call(owner, 'GET', `/posts/${postId}/comments?sort=hot`)).statusCode).toBe(400);
  });

  it('a big thread is cut at 500 comments per response, the rest counted and reachable with parent_id', async () => {
    const { owner, postId } = await setup('ct_big');
    const root = await reply(owner, postId, 'root');
    await sql`INSERT INTO forum_comments (id, post_id, author_id, parent_id, content, depth)
              SELECT cgraph_uuid_v7(), ${postId}::uuid, ${owner.user.id}::uuid, ${root.id}::uuid, 'r' || g, 1
              FROM generate_series(1, 700) AS g`.execute(api.t.db);
    const page = await tree(owner, postId);
    expect(page.data[0]!.replies).toHaveLength(499);
    expect(page.data[0]!.more_replies).toBe(201);
    const expanded = await tree(owner, postId, `?parent_id=${root.id}&limit=100`);
    expect(expanded.data).toHaveLength(100);
    expect(expanded.next_cursor).not.toBeNull();
  });

  it("a post's tree is one range of the post's index", async () => {
    const { owner, postId } = await setup('ct_plan');
    await reply(owner, postId, 'x');
    for (const parent of [undefined, newId()]) {
      const q = commentTreeQuery(api.t.db, owner.user.id, postId, parent).compile();
      const plan = await explainPlan(api.t, q.sql, q.parameters);
      expect(plan).toMatch(/forum_comments_post_id_(parent_id|id|inserted_at)_index/);
      expect(plan).not.toMatch(/Seq Scan on forum_comments/);
    }
    const details = commentsWithDetails(api.t.db, owner.user.id).where('c.id', '=', sql<string>`ANY(${[newId(), newId()]}::uuid[])`).compile();
    expect(await explainPlan(api.t, details.sql, details.parameters)).toMatch(/forum_comments_pkey/);
  });
});

describe('writing comments', () => {
  it('a locked post refuses new comments and edits with 403 post_locked; moderators may still delete', async () => {
    const { owner, postId } = await setup('cw_lock');
    const bob = await api.register('cw_bob');
    const c = await reply(bob, postId, 'before the lock');
    await call(owner, 'PATCH', `/posts/${postId}`, { is_locked: true });
    for (const res of [
      await call(bob, 'POST', `/posts/${postId}/comments`, { content: 'after' }),
      await call(bob, 'POST', `/posts/${postId}/comments`, { content: 'reply', parent_id: c.id }),
      await call(bob, 'PATCH', `/comments/${c.id}`, { content: 'edited' }),
    ]) {
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('post_locked');
    }
    expect((await call(owner, 'DELETE', `/comments/${c.id}`)).statusCode).toBe(204);
    await call(owner, 'PATCH', `/posts/${postId}`, { is_locked: false });
    expect((await call(bob, 'POST', `/posts/${postId}/comments`, { content: 'unlocked' })).statusCode).toBe(201);
  });

  it('bad input: a parent from another post, blank or huge content; edits by others', async () => {
    const { owner, postId } = await setup('cw_bad');
    const other = (await call(owner, 'POST', '/forums/cw-bad/posts', { title: 'other', type: 'text' })).json<{ id: string }>();
    const foreign = await reply(owner, other.id, 'elsewhere');
    const res = await call(owner, 'POST', `/posts/${postId}/comments`, { content: 'x', parent_id: foreign.id });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.fields).toEqual({ parent_id: ['is not a comment of this post'] });
    expect((await call(owner, 'POST', `/posts/${postId}/comments`, { content: '   ' })).statusCode).toBe(422);
    expect((await call(owner, 'POST', `/posts/${postId}/comments`, { content: 'x'.repeat(10001) })).statusCode).toBe(422);
    expect((await call(owner, 'POST', `/posts/${postId}/comments`, { content: 'x', parent_id: 'nope' })).statusCode).toBe(422);
    const mine = await reply(owner, postId, 'mine');
    const bob = await api.register('cw_bob2');
    expect((await call(bob, 'PATCH', `/comments/${mine.id}`, { content: 'hijack' })).json().error.code).toBe('not_author');
    expect((await call(bob, 'DELETE', `/comments/${mine.id}`)).json().error.code).toBe('not_author');
    const edited = (await call(owner, 'PATCH', `/comments/${mine.id}`, { content: ' better ' })).json();
    expect(edited).toMatchObject({ content: 'better' });
    expect(edited.edited_at).not.toBeNull();
  });

  it('comment_count stays exact under concurrent inserts and deletes (20 connections)', async () => {
    const { owner, postId } = await setup('cw_count');
    const events = createEventBus(api.t.logger);
    const published: DomainEvent[] = [];
    events.subscribe((event) => published.push(event));
    // Parents are taken from the comments that are never deleted.
    const parents: string[] = [];
    const seedComments = await Promise.all(Array.from({ length: 20 }, (_, i) => createComment(api.t.db, events, owner.user.id, postId, { content: `seed ${i}` })));
    parents.push(...seedComments.map((c) => c.id));
    await Promise.all(
      Array.from({ length: 20 }, async (_, w) => {
        for (let i = 0; i < 40; i++) {
          const parent = parents[(w * 7 + i) % parents.length];
          const c = await createComment(api.t.db, events, owner.user.id, postId, { content: `w${w} ${i}`, parent_id: i % 3 === 0 ? null : parent });
          // Delete every third comment, each twice at once (the second must change nothing).
          if (i % 3 === 1) await Promise.all([deleteComment(api.t.db, events, owner.user.id, c.id), deleteComment(api.t.db, events, owner.user.id, c.id)]);
          else parents.push(c.id);
        }
      }),
    );
    const { rows } = await sql<{ comment_count: number; live: number; total: number }>`
      SELECT p.comment_count,
             (SELECT count(*)::int FROM forum_comments c WHERE c.post_id = p.id AND c.deleted_at IS NULL) AS live,
             (SELECT count(*)::int FROM forum_comments c WHERE c.post_id = p.id) AS total
      FROM forum_posts p WHERE p.id = ${postId}`.execute(api.t.db);
    expect(rows[0]!.total).toBe(820);
    expect(rows[0]!.comment_count).toBe(rows[0]!.live);
    expect(rows[0]!.live).toBe(820 - 20 * 13);
    expect(published.filter((e) => e.type === 'forum_comment.created')).toHaveLength(820);
    expect(published.filter((e) => e.type === 'forum_comment.deleted')).toHaveLength(20 * 13);
  }, 120_000);
});

describe('notifications', () => {
  const notificationsOf = (userId: string) =>
    api.t.db.selectFrom('notifications').select(['type', 'actor_id', 'data']).where('user_id', '=', userId).orderBy('inserted_at').execute();

  it('reply to the post or parent author, mention for @username; never to oneself; none from blocked users', async () => {
    const { owner, postId, slug } = await setup('nt_reply');
    const bob = await api.register('nt_bob');
    const cat = await api.register('nt_cat');
    const c = await reply(bob, postId, 'top-level from bob');
    expect(await notificationsOf(owner.user.id)).toMatchObject([{ type: 'reply', actor_id: bob.user.id, data: { post_id: postId, comment_id: c.id } }]);
    await reply(owner, postId, 'answering bob, and @nt_cat and @nt_owner (myself)', c.id);
    expect(await notificationsOf(bob.user.id)).toMatchObject([{ type: 'reply', actor_id: owner.user.id }]);
    expect(await notificationsOf(cat.user.id)).toMatchObject([{ type: 'mention', actor_id: owner.user.id }]);
    expect(await notificationsOf(owner.user.id)).toHaveLength(1);
    // Replying to oneself notifies nobody; a mentioned reply target gets one notification.
    await reply(bob, postId, 'me again', c.id);
    expect(await notificationsOf(bob.user.id)).toHaveLength(1);
    await reply(cat, postId, 'hey @nt_bob', c.id);
    expect((await notificationsOf(bob.user.id)).map((n) => n.type)).toEqual(['reply', 'mention']);
    // A post that mentions someone.
    await call(cat, 'POST', `/forums/${slug}/posts`, { title: 'for @nt_bob', type: 'text' });
    expect((await notificationsOf(bob.user.id)).map((n) => n.type)).toEqual(['reply', 'mention', 'mention']);

    // Bob blocks cat: no reply or mention from cat reaches bob any more.
    // (Blocking also clears what bob had from cat; see docs/social.md.)
    expect((await call(bob, 'POST', '/blocks', { username: 'nt_cat' })).statusCode).toBe(204);
    const before = await notificationsOf(bob.user.id);
    await reply(cat, postId, 'ignored @nt_bob', c.id);
    await call(cat, 'POST', `/forums/${slug}/posts`, { title: 'still @nt_bob', type: 'text' });
    expect(await notificationsOf(bob.user.id)).toEqual(before);
    expect(before.some((n) => n.actor_id === cat.user.id)).toBe(false);
  });

  it('a mention in a private forum reaches only those who can see it', async () => {
    const { owner, postId, slug } = await setup('nt_private', { is_public: false });
    const member = await api.register('nt_member');
    const outsider = await api.register('nt_outsider');
    await call(owner, 'POST', `/forums/${slug}/members/${member.user.id}`);
    await reply(owner, postId, 'hello @nt_member and @nt_outsider');
    expect(await notificationsOf(member.user.id)).toMatchObject([{ type: 'mention' }]);
    expect(await notificationsOf(outsider.user.id)).toEqual([]);
    // A member who leaves gets no reply to what they wrote there before.
    const theirs = await reply(member, postId, 'from the member');
    await call(member, 'DELETE', `/forums/${slug}/members/${member.user.id}`);
    await reply(owner, postId, 'answering someone who left', theirs.id);
    expect(await notificationsOf(member.user.id)).toHaveLength(1);
  });
});
