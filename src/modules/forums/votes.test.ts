// Votes: the API's rules, and exact scores under real concurrency: 20 connections cast,
// flip and remove thousands of votes on a few posts and comments at once; afterwards
// every score, upvote and downvote count equals what the vote rows say, hot matches the
// formula, and every user's final vote is the last one they cast.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { castCommentVote, castPostVote, type VoteValue } from './votes.ts';

const api = useTestApp({ POOL_SIZE: '24' });
type User = Awaited<ReturnType<typeof api.register>>;

const call = (user: User, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
  api.call({ method, url: `/api/v1${url}`, token: user.token, ...(payload ? { payload } : {}) });

async function setup(prefix: string) {
  const owner = await api.register(`${prefix}_owner`);
  await call(owner, 'POST', '/forums', { name: prefix, slug: prefix.replaceAll('_', '-') });
  const p = (await call(owner, 'POST', `/forums/${prefix.replaceAll('_', '-')}/posts`, { title: 'vote on me', type: 'text' })).json<{ id: string }>();
  const c = (await call(owner, 'POST', `/posts/${p.id}/comments`, { content: 'and me' })).json<{ id: string }>();
  return { owner, postId: p.id, commentId: c.id };
}

describe('votes over HTTP', () => {
  it('up, flip, remove; the answer is the new score; my_vote follows', async () => {
    const { owner, postId, commentId } = await setup('vo_api');
    const bob = await api.register('vo_bob');
    expect((await call(bob, 'POST', `/posts/${postId}/vote`, { value: 1 })).json()).toEqual({ score: 1 });
    expect((await call(owner, 'POST', `/posts/${postId}/vote`, { value: 1 })).json()).toEqual({ score: 2 });
    expect((await call(bob, 'POST', `/posts/${postId}/vote`, { value: 1 })).json()).toEqual({ score: 2 }); // again: no change
    expect((await call(bob, 'POST', `/posts/${postId}/vote`, { value: -1 })).json()).toEqual({ score: 0 });
    expect((await call(bob, 'GET', `/posts/${postId}`)).json()).toMatchObject({ my_vote: -1, upvotes: 1, downvotes: 1, score: 0 });
    expect((await call(bob, 'POST', `/posts/${postId}/vote`, { value: 0 })).json()).toEqual({ score: 1 });
    expect((await call(bob, 'POST', `/posts/${postId}/vote`, { value: 0 })).json()).toEqual({ score: 1 });
    expect((await call(bob, 'GET', `/posts/${postId}`)).json().my_vote).toBe(0);

    expect((await call(bob, 'POST', `/comments/${commentId}/vote`, { value: -1 })).json()).toEqual({ score: -1 });
    for (const value of [2, -2, '1', null, 0.5]) {
      const res = await call(bob, 'POST', `/posts/${postId}/vote`, { value });
      expect(res.statusCode, String(value)).toBe(422);
      expect((await call(bob, 'POST', `/comments/${commentId}/vote`, { value })).statusCode).toBe(422);
    }
    expect((await call(bob, 'POST', '/posts/01900000-0000-7000-8000-000000000000/vote', { value: 1 })).statusCode).toBe(404);
  });

  it("a locked post keeps its post votes but freezes its comments' votes (403 post_locked)", async () => {
    const { owner, postId, commentId } = await setup('vo_lock');
    await call(owner, 'PATCH', `/posts/${postId}`, { is_locked: true });
    expect((await call(owner, 'POST', `/posts/${postId}/vote`, { value: 1 })).json()).toEqual({ score: 1 });
    const res = await call(owner, 'POST', `/comments/${commentId}/vote`, { value: 1 });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('post_locked');
  });
});

describe('exact scores under concurrency', () => {
  it('20 connections, 200 voters, 6000 votes cast, flipped and removed: every score is the sum of its votes', async () => {
    const db = api.t.db;
    const { postId, commentId } = await setup('vo_race');
    const second = await setup('vo_race2');
    const voters = (
      await sql<{ id: string }>`
        INSERT INTO users (id, email, username, password_hash)
        SELECT cgraph_uuid_v7(), 'race' || g || '@example.com', 'race_' || g, 'x' FROM generate_series(1, 200) AS g
        RETURNING id`.execute(db)
    ).rows.map((row) => row.id);
    const targets = [
      { kind: 'post' as const, id: postId },
      { kind: 'post' as const, id: second.postId },
      { kind: 'comment' as const, id: commentId },
      { kind: 'comment' as const, id: second.commentId },
    ];
    // Each worker owns 10 voters, so a voter's votes are in order and the last one is known.
    const expected = new Map<string, VoteValue>();
    const workers = Array.from({ length: 20 }, (_, w) => voters.slice(w * 10, w * 10 + 10));
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const plans = workers.map((mine) =>
      Array.from({ length: 300 }, () => {
        const voter = mine[Math.floor(random() * mine.length)]!;
        const target = targets[Math.floor(random() * targets.length)]!;
        const value = ([1, -1, 0, 1, -1] as const)[Math.floor(random() * 5)]!;
        return { voter, target, value };
      }),
    );
    await Promise.all(
      plans.map(async (plan) => {
        for (const { voter, target, value } of plan) {
          if (target.kind === 'post') await castPostVote(db, voter, target.id, value);
          else await castCommentVote(db, voter, target.id, value);
          expected.set(`${target.id}:${voter}`, value);
        }
      }),
    );

    const posts = await sql<{ id: string; score: number; upvotes: number; downvotes: number; sum: number; ups: number; downs: number; hot_ok: boolean }>`
      SELECT p.id, p.score, p.upvotes, p.downvotes,
             coalesce(sum(v.value), 0)::int AS sum,
             count(*) FILTER (WHERE v.value = 1)::int AS ups,
             count(*) FILTER (WHERE v.value = -1)::int AS downs,
             p.hot = cgraph_hot(p.score, p.inserted_at) AS hot_ok
      FROM forum_posts p LEFT JOIN forum_votes v ON v.post_id = p.id
      WHERE p.id IN (${postId}, ${second.postId}) GROUP BY p.id`.execute(db);
    const comments = await sql<{ id: string; score: number; upvotes: number; downvotes: number; sum: number; ups: number; downs: number }>`
      SELECT c.id, c.score, c.upvotes, c.downvotes,
             coalesce(sum(v.value), 0)::int AS sum,
             count(*) FILTER (WHERE v.value = 1)::int AS ups,
             count(*) FILTER (WHERE v.value = -1)::int AS downs
      FROM forum_comments c LEFT JOIN comment_votes v ON v.comment_id = c.id
      WHERE c.id IN (${commentId}, ${second.commentId}) GROUP BY c.id`.execute(db);
    for (const row of [...posts.rows, ...comments.rows]) {
      expect(row.score).toBe(row.sum);
      expect(row.upvotes).toBe(row.ups);
      expect(row.downvotes).toBe(row.downs);
    }
    for (const row of posts.rows) expect(row.hot_ok).toBe(true);

    // The scores are what the voters' last votes say.
    for (const target of targets) {
      const want = [...expected].filter(([key]) => key.startsWith(`${target.id}:`)).reduce((sum, [, value]) => sum + value, 0);
      const table = target.kind === 'post' ? 'forum_posts' : 'forum_comments';
      const { rows } = await sql<{ score: number }>`SELECT score FROM ${sql.table(table)} WHERE id = ${target.id}`.execute(db);
      expect(rows[0]!.score).toBe(want);
    }
    const stored = await sql<{ key: string; value: number }>`
      SELECT post_id || ':' || user_id AS key, value FROM forum_votes WHERE user_id = ANY(${voters}::uuid[])
      UNION ALL SELECT comment_id || ':' || user_id, value FROM comment_votes WHERE user_id = ANY(${voters}::uuid[])`.execute(db);
    const wanted = [...expected].filter(([, value]) => value !== 0).sort();
    expect(stored.rows.map((row) => [row.key, row.value]).sort()).toEqual(wanted);
  }, 120_000);
});
