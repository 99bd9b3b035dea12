// Forums, moderators, members, flairs and visibility; posts of every type, polls, edits,
// pins, locks and deletes, over HTTP.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { runSeeds } from '../../db/seeds.ts';
import { createEventBus, type DomainEvent } from '../../events/bus.ts';
import { createPost, deletePost, updatePost } from './posts.ts';
import { votePost } from './votes.ts';

const api = useTestApp({ CGRAPH_ADMIN_PASSWORD: 'admin-password-for-tests' });
type User = Awaited<ReturnType<typeof api.register>>;

const post = (user: User | undefined, url: string, payload?: unknown) =>
  api.call({ method: 'POST', url: `/api/v1${url}`, ...(user ? { token: user.token } : {}), ...(payload === undefined ? {} : { payload: payload as object }) });
const get = (user: User | undefined, url: string) => api.call({ method: 'GET', url: `/api/v1${url}`, ...(user ? { token: user.token } : {}) });
const patch = (user: User, url: string, payload: object) => api.call({ method: 'PATCH', url: `/api/v1${url}`, token: user.token, payload });
const del = (user: User, url: string) => api.call({ method: 'DELETE', url: `/api/v1${url}`, token: user.token });

async function forum(owner: User, slug: string, extra: object = {}) {
  const res = await post(owner, '/forums', { name: slug.toUpperCase(), slug, ...extra });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; slug: string }>();
}

describe('forums', () => {
  it('creates with a unique, lower-case slug; bad and taken slugs are 422 field errors', async () => {
    const ann = await api.register('fo_ann');
    const created = await forum(ann, 'cats-and-dogs', { description: ' all about pets ' });
    expect(created).toMatchObject({ slug: 'cats-and-dogs', description: 'all about pets', is_public: true, owner_id: ann.user.id, viewer: { is_owner: true, is_moderator: true } });
    const taken = await post(ann, '/forums', { name: 'x', slug: 'cats-and-dogs' });
    expect(taken.statusCode).toBe(422);
    expect(taken.json().error.fields).toEqual({ slug: ['has already been taken'] });
    for (const slug of ['Cats', 'a', 'with space', 'x'.repeat(51), 'ünï']) {
      const bad = await post(ann, '/forums', { name: 'x', slug });
      expect(bad.statusCode, slug).toBe(422);
      expect(bad.json().error.fields).toHaveProperty('slug');
    }
    expect((await post(undefined, '/forums', { name: 'x', slug: 'anon' })).statusCode).toBe(401);
    expect((await get(undefined, '/forums/cats-and-dogs')).json()).toMatchObject({ slug: 'cats-and-dogs', viewer: { is_owner: false } });
    expect((await get(undefined, '/forums/Not-A-Slug')).statusCode).toBe(404);
  });

  it('the owner edits the forum and appoints moderators; nobody else may', async () => {
    const owner = await api.register('fo_owner');
    const mod = await api.register('fo_mod');
    const other = await api.register('fo_other');
    await forum(owner, 'owned');
    expect((await patch(other, '/forums/owned', { name: 'Mine' })).json().error.code).toBe('not_forum_owner');
    const renamed = await patch(owner, '/forums/owned', { name: 'Owned!', description: null });
    expect(renamed.json()).toMatchObject({ name: 'Owned!', description: null });
    expect((await patch(owner, '/forums/owned', { icon_url: 'javascript:alert(1)' })).statusCode).toBe(422);

    expect((await post(other, `/forums/owned/moderators/${other.user.id}`)).statusCode).toBe(403);
    const added = await post(owner, `/forums/owned/moderators/${mod.user.id}`);
    expect(added.statusCode).toBe(200);
    expect(added.json().moderators.map((m: { username: string }) => m.username)).toEqual(['fo_mod']);
    expect((await post(owner, `/forums/owned/moderators/${mod.user.id}`)).statusCode).toBe(200); // idempotent
    expect((await post(owner, '/forums/owned/moderators/01900000-0000-7000-8000-000000000000')).statusCode).toBe(404);
    expect((await get(mod, '/forums/owned')).json().viewer).toEqual({ is_owner: false, is_moderator: true, is_member: false });
    // A moderator is not the owner.
    expect((await del(mod, `/forums/owned/moderators/${mod.user.id}`)).json().error.code).toBe('not_forum_owner');
    expect((await del(owner, `/forums/owned/moderators/${mod.user.id}`)).statusCode).toBe(204);
    expect((await get(owner, '/forums/owned')).json().moderators).toEqual([]);
  });

  it('flairs are managed by moderators, unique by name per forum', async () => {
    const owner = await api.register('fl_owner');
    const mod = await api.register('fl_mod');
    const other = await api.register('fl_other');
    await forum(owner, 'flairy');
    await post(owner, `/forums/flairy/moderators/${mod.user.id}`);
    const created = await post(mod, '/forums/flairy/flairs', { name: 'Question', color: '#ff4500' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'Question', color: '#ff4500' });
    expect((await post(other, '/forums/flairy/flairs', { name: 'Spam' })).json().error.code).toBe('not_forum_moderator');
    expect((await post(mod, '/forums/flairy/flairs', { name: 'Question' })).json().error.fields).toEqual({ name: ['has already been taken'] });
    expect((await post(mod, '/forums/flairy/flairs', { name: 'Bad', color: 'red' })).statusCode).toBe(422);
    expect((await get(other, '/forums/flairy/flairs')).json().data.map((f: { name: string }) => f.name)).toEqual(['Question']);
    expect((await del(mod, `/forums/flairy/flairs/${created.json().id}`)).statusCode).toBe(204);
    expect((await get(other, '/forums/flairy/flairs')).json().data).toEqual([]);
  });

  it('a private forum is 404 to outsiders (everything in it) and visible to members and moderators', async () => {
    const owner = await api.register('pv_owner');
    const member = await api.register('pv_member');
    const mod = await api.register('pv_mod');
    const outsider = await api.register('pv_out');
    await forum(owner, 'secret', { is_public: false });
    const p = (await post(owner, '/forums/secret/posts', { title: 'hidden', type: 'text', content: 'shh' })).json();
    const c = (await post(owner, `/posts/${p.id}/comments`, { content: 'a comment' })).json();
    for (const viewer of [outsider, undefined]) {
      expect((await get(viewer, '/forums/secret')).statusCode).toBe(404);
      expect((await get(viewer, '/forums/secret/posts')).statusCode).toBe(404);
      expect((await get(viewer, '/forums/secret/flairs')).statusCode).toBe(404);
      expect((await get(viewer, `/posts/${p.id}`)).statusCode).toBe(404);
      expect((await get(viewer, `/posts/${p.id}/comments`)).statusCode).toBe(404);
    }
    expect((await post(outsider, '/forums/secret/posts', { title: 't', type: 'text' })).statusCode).toBe(404);
    expect((await post(outsider, `/posts/${p.id}/vote`, { value: 1 })).statusCode).toBe(404);
    expect((await post(outsider, `/posts/${p.id}/comments`, { content: 'hi' })).statusCode).toBe(404);
    expect((await post(outsider, `/comments/${c.id}/vote`, { value: 1 })).statusCode).toBe(404);
    expect((await patch(outsider, '/forums/secret', { name: 'x' })).statusCode).toBe(404);
    const slugsOf = async (u: User | undefined) => (await get(u, '/forums?limit=100')).json().data.map((f: { slug: string }) => f.slug);
    expect(await slugsOf(outsider)).not.toContain('secret');
    expect(await slugsOf(owner)).toContain('secret');

    expect((await post(outsider, `/forums/secret/members/${outsider.user.id}`)).statusCode).toBe(404);
    expect((await post(owner, `/forums/secret/members/${member.user.id}`)).statusCode).toBe(204);
    expect((await post(owner, `/forums/secret/moderators/${mod.user.id}`)).statusCode).toBe(200);
    for (const insider of [member, mod]) {
      expect((await get(insider, '/forums/secret')).statusCode).toBe(200);
      expect((await get(insider, '/forums/secret/posts')).json().data.map((x: { id: string }) => x.id)).toEqual([p.id]);
      expect(await slugsOf(insider)).toContain('secret');
    }
    // A member may leave; then it is gone for them.
    expect((await del(member, `/forums/secret/members/${member.user.id}`)).statusCode).toBe(204);
    expect((await get(member, '/forums/secret')).statusCode).toBe(404);
  });

  it('lists forums newest first with a cursor; an invalid token is 401, a bad cursor 400', async () => {
    const first = await get(undefined, '/forums?limit=1');
    expect(first.statusCode).toBe(200);
    const next = await get(undefined, `/forums?limit=1&cursor=${first.json().next_cursor}`);
    expect(next.json().data[0].id < first.json().data[0].id).toBe(true);
    expect((await get(undefined, '/forums?cursor=nope')).statusCode).toBe(400);
    expect((await api.call({ method: 'GET', url: '/api/v1/forums', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
  });

  it('the seeded default forums are public and listed', async () => {
    await runSeeds(api.t.db, api.t.config);
    for (const slug of ['general', 'announcements', 'help']) {
      expect((await get(undefined, `/forums/${slug}`)).json()).toMatchObject({ slug, is_public: true });
    }
  });
});

describe('posts', () => {
  it('text, link, image and poll posts, each checked for its own fields', async () => {
    const ann = await api.register('po_ann');
    await forum(ann, 'posting');
    const text = await post(ann, '/forums/posting/posts', { title: ' Hello ', type: 'text', content: '# Markdown\n\n*hi*' });
    expect(text.statusCode).toBe(201);
    expect(text.json()).toMatchObject({ title: 'Hello', type: 'text', content: '# Markdown\n\n*hi*', score: 0, comment_count: 0, my_vote: 0, poll: null, author: { username: 'po_ann' } });
    expect(text.json().hot).toBeGreaterThan(0);

    const link = await post(ann, '/forums/posting/posts', { title: 'A link', type: 'link', url: 'https://example.com/a?b=c' });
    expect(link.json()).toMatchObject({ type: 'link', url: 'https://example.com/a?b=c' });
    const image = await post(ann, '/forums/posting/posts', { title: 'A picture', type: 'image', url: 'http://img.example.com/cat.png' });
    expect(image.statusCode).toBe(201);

    const bad = async (body: object, field: string) => {
      const res = await post(ann, '/forums/posting/posts', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(422);
      expect(res.json().error.fields, JSON.stringify(body)).toHaveProperty(field);
    };
    await bad({ title: '   ', type: 'text' }, 'title');
    await bad({ title: 't', type: 'text', content: 'x'.repeat(40001) }, 'content');
    await bad({ title: 't', type: 'link' }, 'url');
    await bad({ title: 't', type: 'link', url: 'ftp://example.com' }, 'url');
    await bad({ title: 't', type: 'link', url: 'javascript:alert(1)' }, 'url');
    await bad({ title: 't', type: 'text', url: 'https://example.com' }, 'url');
    await bad({ title: 't', type: 'poll', poll_options: ['only one'] }, 'poll_options');
    await bad({ title: 't', type: 'poll', poll_options: Array.from({ length: 11 }, (_, i) => `o${i}`) }, 'poll_options');
    await bad({ title: 't', type: 'poll', poll_options: ['same', 'Same'] }, 'poll_options');
    await bad({ title: 't', type: 'poll', poll_options: ['a', 'b'], poll_closes_at: '2001-01-01T00:00:00Z' }, 'poll_closes_at');
    await bad({ title: 't', type: 'text', poll_options: ['a', 'b'] }, 'poll_options');
    await bad({ title: 't', type: 'video' }, 'type');
  });

  it('a flair must belong to the same forum', async () => {
    const ann = await api.register('pf_ann');
    await forum(ann, 'flair-a');
    await forum(ann, 'flair-b');
    const a = (await post(ann, '/forums/flair-a/flairs', { name: 'A' })).json();
    const b = (await post(ann, '/forums/flair-b/flairs', { name: 'B' })).json();
    const ok = await post(ann, '/forums/flair-a/posts', { title: 't', type: 'text', flair_id: a.id });
    expect(ok.json().flair).toEqual({ id: a.id, name: 'A', color: null });
    const wrong = await post(ann, '/forums/flair-a/posts', { title: 't', type: 'text', flair_id: b.id });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().error.fields).toEqual({ flair_id: ['is not a flair of this forum'] });
    expect((await patch(ann, `/posts/${ok.json().id}`, { flair_id: b.id })).statusCode).toBe(422);
    expect((await patch(ann, `/posts/${ok.json().id}`, { flair_id: null })).json().flair).toBeNull();
  });

  it('polls: one vote per user, changeable until closed; options of other polls are refused', async () => {
    const ann = await api.register('pl_ann');
    const bob = await api.register('pl_bob');
    await forum(ann, 'polling');
    const poll = (await post(ann, '/forums/polling/posts', { title: 'Best pet?', type: 'poll', poll_options: ['Cat', 'Dog', 'Fish'] })).json();
    const other = (await post(ann, '/forums/polling/posts', { title: 'Other?', type: 'poll', poll_options: ['Yes', 'No'] })).json();
    const text = (await post(ann, '/forums/polling/posts', { title: 'Not a poll', type: 'text' })).json();
    expect(poll.poll.options.map((o: { label: string }) => o.label)).toEqual(['Cat', 'Dog', 'Fish']);
    const [cat, dog] = poll.poll.options as Array<{ id: string }>;

    const voted = await post(bob, `/posts/${poll.id}/poll/vote`, { option_id: cat!.id });
    expect(voted.statusCode).toBe(200);
    expect(voted.json().poll).toMatchObject({ my_vote: cat!.id, closed: false });
    await post(ann, `/posts/${poll.id}/poll/vote`, { option_id: cat!.id });
    const changed = (await post(bob, `/posts/${poll.id}/poll/vote`, { option_id: dog!.id })).json();
    expect(changed.poll.options.map((o: { vote_count: number }) => o.vote_count)).toEqual([1, 1, 0]);
    expect((await post(bob, `/posts/${poll.id}/poll/vote`, { option_id: dog!.id })).json().poll.options[1].vote_count).toBe(1);

    const foreign = await post(bob, `/posts/${poll.id}/poll/vote`, { option_id: other.poll.options[0].id });
    expect(foreign.statusCode).toBe(422);
    expect(foreign.json().error.fields).toEqual({ option_id: ['is not an option of this poll'] });
    expect((await post(bob, `/posts/${text.id}/poll/vote`, { option_id: cat!.id })).json().error.code).toBe('not_a_poll');
    expect((await post(bob, `/posts/${poll.id}/poll/vote`, { option_id: 'not-a-uuid' })).statusCode).toBe(422);

    await api.t.db.updateTable('forum_posts').set({ poll_closes_at: new Date(Date.now() - 1000) }).where('id', '=', poll.id).execute();
    const closed = await post(bob, `/posts/${poll.id}/poll/vote`, { option_id: cat!.id });
    expect(closed.statusCode).toBe(409);
    expect(closed.json().error.code).toBe('poll_closed');
    expect((await get(bob, `/posts/${poll.id}`)).json().poll).toMatchObject({ closed: true, my_vote: dog!.id });
  });

  it('authors edit and delete; moderators pin, lock and delete; pinned posts list first', async () => {
    const owner = await api.register('pe_owner');
    const author = await api.register('pe_author');
    const other = await api.register('pe_other');
    await forum(owner, 'editing');
    const p = (await post(author, '/forums/editing/posts', { title: 'Original', type: 'text', content: 'v1' })).json();
    const older = (await post(author, '/forums/editing/posts', { title: 'Older', type: 'text' })).json();
    expect(p.edited_at).toBeNull();

    const edited = await patch(author, `/posts/${p.id}`, { title: 'Edited', content: 'v2' });
    expect(edited.json()).toMatchObject({ title: 'Edited', content: 'v2' });
    expect(edited.json().edited_at).not.toBeNull();
    expect((await patch(other, `/posts/${p.id}`, { content: 'hijack' })).json().error.code).toBe('not_author');
    expect((await patch(owner, `/posts/${p.id}`, { content: 'mod edit' })).json().error.code).toBe('not_author');
    expect((await patch(author, `/posts/${p.id}`, { is_pinned: true })).json().error.code).toBe('not_forum_moderator');

    expect((await patch(owner, `/posts/${older.id}`, { is_pinned: true, is_locked: true })).json()).toMatchObject({ is_pinned: true, is_locked: true });
    for (const sort of ['hot', 'new', 'top']) {
      const list = (await get(other, `/forums/editing/posts?sort=${sort}`)).json().data.map((x: { id: string }) => x.id);
      expect(list, sort).toEqual([older.id, p.id]);
    }

    expect((await del(other, `/posts/${p.id}`)).json().error.code).toBe('not_author');
    expect((await del(author, `/posts/${p.id}`)).statusCode).toBe(204);
    expect((await del(author, `/posts/${p.id}`)).statusCode).toBe(204);
    const tomb = (await get(other, `/posts/${p.id}`)).json();
    expect(tomb).toMatchObject({ deleted: true, content: null, author: null, title: 'Edited' });
    expect((await patch(author, `/posts/${p.id}`, { content: 'back' })).statusCode).toBe(404);
    expect((await get(other, '/forums/editing/posts?sort=new')).json().data.map((x: { id: string }) => x.id)).toEqual([older.id]);
    expect((await del(owner, `/posts/${older.id}`)).statusCode).toBe(204);
  });

  it('bad listing input is a 400', async () => {
    const ann = await api.register('pb_ann');
    await forum(ann, 'bad-input');
    expect((await get(ann, '/forums/bad-input/posts?sort=best')).statusCode).toBe(400);
    expect((await get(ann, '/forums/bad-input/posts?sort=top&t=decade')).statusCode).toBe(400);
    expect((await get(ann, '/forums/bad-input/posts?cursor=%%%')).statusCode).toBe(400);
    expect((await get(ann, '/forums/bad-input/posts?limit=0')).statusCode).toBe(400);
    const forged = (values: string[]) => Buffer.from(JSON.stringify(values)).toString('base64url');
    const id = '01900000-0000-7000-8000-000000000000';
    for (const [sort, cursor] of [
      ['hot', forged(['k', 'hot', '1e309', id, '', ''])],
      ['top&t=all', forged(['k', 'top_all', '1.5', id, '', ''])],
      ['top&t=all', forged(['k', 'top_all', '99999999999999999999', id, '', ''])],
      ['hot', forged(['s', 'hot', id, '10', '1', id])],
      ['new', forged(['k', 'new', 'x', id, '', ''])],
    ] as const) {
      const res = await get(ann, `/forums/bad-input/posts?sort=${sort}&cursor=${cursor}`);
      expect([200, 400], `${sort} ${res.body}`).toContain(res.statusCode);
    }
    const nul = await post(ann, '/forums/bad-input/posts', { title: 'nul\u0000byte', type: 'text' });
    expect(nul.statusCode).toBeLessThan(500);
  });

  it('a first page of 100 hands out a cursor (the ids it showed) that the route takes back', async () => {
    const ann = await api.register('pc_ann');
    const created = await forum(ann, 'long-cursor');
    await sql`INSERT INTO forum_posts (id, forum_id, author_id, title) SELECT cgraph_uuid_v7(), ${created.id}::uuid, ${ann.user.id}::uuid, 'p' || g FROM generate_series(1, 230) AS g`.execute(api.t.db);
    for (const sort of ['hot', 'top&t=all', 'new']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(undefined, `/forums/long-cursor/posts?sort=${sort}&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode, res.body).toBe(200);
        seen.push(...res.json<{ data: Array<{ id: string }> }>().data.map((p) => p.id));
        cursor = res.json<{ next_cursor: string | null }>().next_cursor;
      } while (cursor);
      expect(new Set(seen).size, sort).toBe(230);
      expect(seen, sort).toHaveLength(230);
    }
  });
});

describe('domain events', () => {
  it('post created, updated, voted and deleted are published after commit; failures publish nothing', async () => {
    const ann = await api.register('ev_ann');
    const forumRow = await forum(ann, 'events');
    const events = createEventBus(api.t.logger);
    const seen: DomainEvent[] = [];
    events.subscribe((event) => seen.push(event));
    await expect(createPost(api.t.db, events, ann.user.id, 'events', { title: '', type: 'text' })).rejects.toMatchObject({ code: 'validation_failed' });
    expect(seen).toEqual([]);
    const created = await createPost(api.t.db, events, ann.user.id, 'events', { title: 'news', type: 'text' });
    await updatePost(api.t.db, events, ann.user.id, created.id, { content: 'more' });
    await votePost(api.t.db, events, ann.user.id, created.id, 1);
    await deletePost(api.t.db, events, ann.user.id, created.id);
    const ids = { forumId: forumRow.id, postId: created.id };
    expect(seen).toEqual([
      { type: 'forum_post.created', ...ids, authorId: ann.user.id },
      { type: 'forum_post.updated', ...ids },
      { type: 'forum_post.voted', ...ids, score: 1 },
      { type: 'forum_post.deleted', ...ids },
    ]);
  });
});
