// Rate limits on forum writes: new posts and comments share one budget per user
// (RATE_LIMIT_FORUM_POSTS), votes another (RATE_LIMIT_FORUM_VOTES); 429 rate_limited with
// Retry-After beyond it, other users and reads unaffected.
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';

const api = useTestApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_AUTH_PER_IP: '1000', RATE_LIMIT_FORUM_POSTS: '3', RATE_LIMIT_FORUM_VOTES: '4', RATE_LIMIT_WINDOW: '1m' });

type User = Awaited<ReturnType<typeof api.register>>;
const call = (user: User | undefined, method: 'GET' | 'POST', url: string, payload?: object) =>
  api.call({ method, url: `/api/v1${url}`, ...(user ? { token: user.token } : {}), ...(payload ? { payload } : {}) });

describe('forum rate limits', () => {
  it('posts and comments share a per-user budget; 429 rate_limited with Retry-After beyond it', async () => {
    const ann = await api.register('rl_ann');
    const bob = await api.register('rl_bob');
    expect((await call(ann, 'POST', '/forums', { name: 'Limits', slug: 'limits' })).statusCode).toBe(201);
    const first = await call(ann, 'POST', '/forums/limits/posts', { title: 'one', type: 'text' });
    expect(first.statusCode).toBe(201);
    const postId = first.json<{ id: string }>().id;
    expect((await call(ann, 'POST', '/forums/limits/posts', { title: 'two', type: 'text' })).statusCode).toBe(201);
    expect((await call(ann, 'POST', `/posts/${postId}/comments`, { content: 'three' })).statusCode).toBe(201);

    const limited = await call(ann, 'POST', '/forums/limits/posts', { title: 'four', type: 'text' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await call(ann, 'POST', `/posts/${postId}/comments`, { content: 'five' })).statusCode).toBe(429);
    // Nothing was written past the limit.
    expect((await call(ann, 'GET', '/forums/limits/posts?sort=new')).json().data).toHaveLength(2);

    // Another user has their own budget; reading is not limited.
    expect((await call(bob, 'POST', `/posts/${postId}/comments`, { content: 'bob' })).statusCode).toBe(201);
    for (let i = 0; i < 5; i++) expect((await call(undefined, 'GET', `/posts/${postId}/comments`)).statusCode).toBe(200);
  });

  it('votes on posts and comments share a per-user budget', async () => {
    const cy = await api.register('rl_cy');
    const dee = await api.register('rl_dee');
    expect((await call(cy, 'POST', '/forums', { name: 'Votes', slug: 'votes-limited' })).statusCode).toBe(201);
    const postId = (await call(cy, 'POST', '/forums/votes-limited/posts', { title: 'p', type: 'text' })).json<{ id: string }>().id;
    const commentId = (await call(cy, 'POST', `/posts/${postId}/comments`, { content: 'c' })).json<{ id: string }>().id;
    const codes = [];
    for (const [url, value] of [
      [`/posts/${postId}/vote`, 1],
      [`/comments/${commentId}/vote`, 1],
      [`/posts/${postId}/vote`, 0],
      [`/comments/${commentId}/vote`, -1],
      [`/posts/${postId}/vote`, 1],
      [`/comments/${commentId}/vote`, 1],
    ] as const) {
      codes.push((await call(dee, 'POST', url, { value })).statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 200, 429, 429]);
    // The fifth vote was refused: the post's score is still 0 (voted 1, then removed).
    expect((await call(dee, 'GET', `/posts/${postId}`)).json()).toMatchObject({ score: 0, my_vote: 0 });
    expect((await call(cy, 'POST', `/posts/${postId}/vote`, { value: 1 })).statusCode).toBe(200);
  });
});
