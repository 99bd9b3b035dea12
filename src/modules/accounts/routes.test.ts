import { hash } from '@node-rs/argon2';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { countQueries } from '../../../test/db.ts';
import { useTestApp } from '../../../test/app-harness.ts';

const api = useTestApp();
// Sessions read straight from the database on every request, for tests that edit them in SQL.
const uncached = useTestApp({ SESSION_CACHE_TTL: '0' });

describe('register', () => {
  it('creates the user and a session: 201 {user, token}', async () => {
    const res = await api.call({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email: 'Ada@Example.com', username: 'ada', password: 'analytical engine', display_name: 'Ada' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.user).toMatchObject({ email: 'Ada@Example.com', username: 'ada', display_name: 'Ada', status: 'offline' });
    expect(body.user).not.toHaveProperty('password_hash');
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const me = await api.call({ method: 'GET', url: '/api/v1/me', token: body.token });
    expect(me.json().username).toBe('ada');
  });

  it.each([
    [{ email: 'no-at-sign', username: 'valid_name', password: 'long enough' }, 'email', 'has invalid format'],
    [{ email: 'a@b.co', username: 'ab', password: 'long enough' }, 'username', 'should be at least 3 character(s)'],
    [{ email: 'a@b.co', username: 'a'.repeat(21), password: 'long enough' }, 'username', 'should be at most 20 character(s)'],
    [{ email: 'a@b.co', username: 'Bad-Name', password: 'long enough' }, 'username', 'has invalid format'],
    [{ email: 'a@b.co', username: 'fine_name', password: 'short' }, 'password', 'should be at least 8 character(s)'],
    [{ email: 'a@b.co', username: 'fine_name', password: 'x'.repeat(257) }, 'password', 'should be at most 256 character(s)'],
    [{ username: 'fine_name', password: 'long enough' }, 'email', "can't be blank"],
    [{ email: 42, username: 'fine_name', password: 'long enough' }, 'email', 'is invalid'],
  ])('422 with field errors for %j', async (payload, field, message) => {
    const res = await api.call({ method: 'POST', url: '/api/v1/auth/register', payload });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'validation_failed' });
    expect(res.json().error.fields[field]).toContain(message);
  });

  it('refuses a taken email (in any letter case) or username with "has already been taken"', async () => {
    await api.register('grace');
    const email = await api.call({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email: 'GRACE@example.COM', username: 'grace2', password: 'long enough' },
    });
    expect(email.statusCode).toBe(422);
    expect(email.json().error.fields).toEqual({ email: ['has already been taken'] });
    const username = await api.call({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email: 'other@example.com', username: 'grace', password: 'long enough' },
    });
    expect(username.json().error.fields).toEqual({ username: ['has already been taken'] });
  });

  it('400 for malformed JSON and 413 for an oversized body', async () => {
    const bad = await api.call({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_json');
    const big = await api.call({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('payload_too_large');
  });
});

describe('login', () => {
  it('accepts email or username, and answers unknown users exactly like wrong passwords', async () => {
    await api.register('linus');
    for (const login of ['linus', 'LINUS@example.com', 'Linus']) {
      const res = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login, password: 'correct horse battery' } });
      expect(res.statusCode, login).toBe(200);
      expect(res.json().user.username).toBe('linus');
    }
    const wrong = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'linus', password: 'wrong password' } });
    const unknown = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'nobody_here', password: 'wrong password' } });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(unknown.body).toBe(wrong.body);
    expect(wrong.json().error.code).toBe('invalid_credentials');
  });

  it('upgrades a hash made with weaker parameters at the next login', async () => {
    const { user } = await api.register('legacy');
    const weak = await hash('correct horse battery', { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await api.t.db.updateTable('users').set({ password_hash: weak }).where('id', '=', user.id).execute();
    const res = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'legacy', password: 'correct horse battery' } });
    expect(res.statusCode).toBe(200);
    const row = await api.t.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });
});

describe('me', () => {
  it('401 without a token, with a malformed one, or with an unknown one', async () => {
    for (const authorization of [undefined, 'Bearer', 'Bearer abc', `Bearer ${'A'.repeat(43)}`, 'Basic dXNlcjpwYXNz']) {
      const res = await api.call({ method: 'GET', url: '/api/v1/me', headers: authorization ? { authorization } : {} });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('unauthorized');
    }
  });

  it('PATCH validates each field like a changeset and saves valid changes', async () => {
    const { token } = await api.register('editor');
    const bad = await api.call({
      method: 'PATCH',
      url: '/api/v1/me',
      token,
      payload: { avatar_url: 'ftp://example.com/a.png', status: 'away', custom_status: 'x'.repeat(129), display_name: 'y'.repeat(65) },
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.fields).toEqual({
      avatar_url: ['must be an http(s) URL'],
      status: ['is invalid'],
      custom_status: ['should be at most 128 character(s)'],
      display_name: ['should be at most 64 character(s)'],
    });
    const good = await api.call({
      method: 'PATCH',
      url: '/api/v1/me',
      token,
      payload: { avatar_url: 'https://cdn.example.com/me.png', status: 'dnd', custom_status: 'Working from home', display_name: 'Ed' },
    });
    expect(good.statusCode).toBe(200);
    expect(good.json()).toMatchObject({ avatar_url: 'https://cdn.example.com/me.png', status: 'dnd', custom_status: 'Working from home', display_name: 'Ed' });
    const cleared = await api.call({ method: 'PATCH', url: '/api/v1/me', token, payload: { custom_status: null, status: null } });
    expect(cleared.statusCode).toBe(422);
    expect(cleared.json().error.fields).toEqual({ status: ["can't be blank"] });
  });

  // The presence tracker flushes activity every 15 s on its own timer; such a flush may land
  // inside a counting window and is not part of the request.
  const requestQueries = (queries: string[]) => queries.filter((q) => !q.startsWith('update "users" set "last_active_at"'));

  it('GET /me costs one indexed lookup uncached, and no query while the session is cached', async () => {
    const { token } = await uncached.register('counted');
    await uncached.call({ method: 'GET', url: '/api/v1/me', token });
    const { result, queries } = await countQueries(uncached.t, () => uncached.call({ method: 'GET', url: '/api/v1/me', token }));
    expect(result.statusCode).toBe(200);
    expect(requestQueries(queries)).toHaveLength(1);
    expect(requestQueries(queries)[0]).toMatch(/from "sessions" as "s" inner join "users" as "u"/);

    const cachedToken = (await api.register('counted_cached')).token;
    const first = await countQueries(api.t, () => api.call({ method: 'GET', url: '/api/v1/me', token: cachedToken }));
    expect(requestQueries(first.queries)).toHaveLength(1);
    const second = await countQueries(api.t, () => api.call({ method: 'GET', url: '/api/v1/me', token: cachedToken }));
    expect(second.result.statusCode).toBe(200);
    expect(requestQueries(second.queries)).toHaveLength(0);
  });

  it('a cached session sees profile changes and revocations at once', async () => {
    const { token } = await api.register('cached_user');
    await api.call({ method: 'GET', url: '/api/v1/me', token });
    await api.call({ method: 'PATCH', url: '/api/v1/me', token, payload: { display_name: 'Renamed' } });
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token })).json().display_name).toBe('Renamed');
    await api.call({ method: 'POST', url: '/api/v1/auth/logout', token });
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token })).statusCode).toBe(401);
  });
});

describe('sessions', () => {
  it('lists live sessions, revokes one, and logout ends the current one', async () => {
    const { token: first } = await api.register('multi');
    const second = (
      await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'multi', password: 'correct horse battery' }, headers: { 'user-agent': 'phone' } })
    ).json().token as string;
    const list = await api.call({ method: 'GET', url: '/api/v1/auth/sessions', token: first });
    expect(list.statusCode).toBe(200);
    const data = list.json().data as Array<{ id: string; current: boolean; user_agent: string | null }>;
    expect(data).toHaveLength(2);
    expect(data.filter((s) => s.current)).toHaveLength(1);
    const phone = data.find((s) => s.user_agent === 'phone')!;
    expect((await api.call({ method: 'DELETE', url: `/api/v1/auth/sessions/${phone.id}`, token: first })).statusCode).toBe(204);
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token: second })).statusCode).toBe(401);
    expect((await api.call({ method: 'DELETE', url: `/api/v1/auth/sessions/${phone.id}`, token: first })).statusCode).toBe(404);
    expect((await api.call({ method: 'DELETE', url: '/api/v1/auth/sessions/not-a-uuid', token: first })).statusCode).toBe(404);

    const { token: other } = await api.register('stranger');
    const mine = (await api.call({ method: 'GET', url: '/api/v1/auth/sessions', token: first })).json().data[0].id as string;
    expect((await api.call({ method: 'DELETE', url: `/api/v1/auth/sessions/${mine}`, token: other })).statusCode).toBe(404);

    expect((await api.call({ method: 'POST', url: '/api/v1/auth/logout', token: first })).statusCode).toBe(204);
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token: first })).statusCode).toBe(401);
  });

  it('expired and idle sessions no longer authenticate; activity is written at most once a minute', async () => {
    const { token, user } = await uncached.register('sleepy');
    const sessionRow = () =>
      uncached.t.db.selectFrom('sessions').select(['id', 'last_active_at']).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    const before = await sessionRow();
    await uncached.call({ method: 'GET', url: '/api/v1/me', token });
    expect((await sessionRow()).last_active_at).toEqual(before.last_active_at);

    await sql`UPDATE sessions SET last_active_at = now() - interval '5 minutes' WHERE user_id = ${user.id}`.execute(uncached.t.db);
    const stale = await sessionRow();
    await uncached.call({ method: 'GET', url: '/api/v1/me', token });
    expect((await sessionRow()).last_active_at.getTime()).toBeGreaterThan(stale.last_active_at.getTime());

    await sql`UPDATE sessions SET last_active_at = now() - interval '15 days' WHERE user_id = ${user.id}`.execute(uncached.t.db);
    expect((await uncached.call({ method: 'GET', url: '/api/v1/me', token })).statusCode).toBe(401);
    await sql`UPDATE sessions SET last_active_at = now(), expires_at = now() - interval '1 second' WHERE user_id = ${user.id}`.execute(uncached.t.db);
    expect((await uncached.call({ method: 'GET', url: '/api/v1/me', token })).statusCode).toBe(401);
  });
});

describe('password change', () => {
  it('needs the current password, revokes the other sessions and keeps this one', async () => {
    const { token } = await api.register('changer');
    const other = (await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'changer', password: 'correct horse battery' } })).json()
      .token as string;
    const wrong = await api.call({ method: 'POST', url: '/api/v1/me/password', token, payload: { current_password: 'nope nope', new_password: 'new password 1' } });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().error.fields).toEqual({ current_password: ['is invalid'] });
    const short = await api.call({ method: 'POST', url: '/api/v1/me/password', token, payload: { current_password: 'correct horse battery', new_password: 'short' } });
    expect(short.json().error.fields).toEqual({ new_password: ['should be at least 8 character(s)'] });

    const ok = await api.call({ method: 'POST', url: '/api/v1/me/password', token, payload: { current_password: 'correct horse battery', new_password: 'new password 1' } });
    expect(ok.statusCode).toBe(204);
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token })).statusCode).toBe(200);
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token: other })).statusCode).toBe(401);
    const oldLogin = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'changer', password: 'correct horse battery' } });
    expect(oldLogin.statusCode).toBe(401);
    const newLogin = await api.call({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'changer', password: 'new password 1' } });
    expect(newLogin.statusCode).toBe(200);
  });
});

describe('public profiles', () => {
  it('shows the public fields only, and 404 for unknown or impossible usernames', async () => {
    await api.register('famous', { display_name: 'Famous' });
    const res = await api.call({ method: 'GET', url: '/api/v1/users/famous' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ username: 'famous', display_name: 'Famous' });
    expect(res.json()).not.toHaveProperty('email');
    expect((await api.call({ method: 'GET', url: '/api/v1/users/nobody_at_all' })).statusCode).toBe(404);
    expect((await api.call({ method: 'GET', url: `/api/v1/users/${encodeURIComponent('💥 ../x')}` })).statusCode).toBe(404);
  });
});
