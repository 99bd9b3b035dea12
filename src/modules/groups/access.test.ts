// The permission matrix end to end: real roles, overwrites and bans in PostgreSQL, asked
// over HTTP and through mayViewChannel (the gateway's question), which must agree.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { countQueries } from '../../../test/db.ts';
import { loadChannelAccess, mayViewChannel, mayViewGroup, Permission as P } from './permissions.ts';

const api = useTestApp();
type User = Awaited<ReturnType<typeof api.register>>;

const call = (as: User, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  api.call({ method, url: `/api/v1${url}`, token: as.token, ...(payload === undefined ? {} : { payload }) });

const people = ['owner', 'admin', 'moderator', 'member', 'outsider', 'banned'] as const;
type Who = (typeof people)[number];
const u = {} as Record<Who, User>;
let groupId = '';
const ch = { public: '', private: '', news: '' };
const roleIds = { admin: '', mod: '' };
// A message by the plain member in each channel where they can post, by the owner elsewhere.
const target = { public: '', private: '', news: '' };

beforeAll(async () => {
  for (const name of people) u[name] = await api.register(`ac_${name}`);
  const group = (await call(u.owner, 'POST', '/groups', { name: 'Matrix' })).json();
  groupId = group.id;
  const { invite_code } = (await call(u.owner, 'POST', `/groups/${groupId}/invite`)).json();
  for (const name of ['admin', 'moderator', 'member', 'banned'] as const) {
    expect((await call(u[name], 'POST', `/invites/${invite_code}`)).statusCode).toBe(200);
  }
  roleIds.admin = (await call(u.owner, 'POST', `/groups/${groupId}/roles`, { name: 'admin', position: 10, permissions: P.ADMINISTRATOR })).json().id;
  roleIds.mod = (
    await call(u.owner, 'POST', `/groups/${groupId}/roles`, {
      name: 'mod',
      position: 5,
      permissions: P.MANAGE_MESSAGES | P.KICK_MEMBERS | P.MENTION_EVERYONE,
    })
  ).json().id;
  await call(u.owner, 'PATCH', `/groups/${groupId}/members/${u.admin.user.id}`, { role_ids: [roleIds.admin] });
  await call(u.owner, 'PATCH', `/groups/${groupId}/members/${u.moderator.user.id}`, { role_ids: [roleIds.mod] });
  ch.public = (await call(u.owner, 'GET', `/groups/${groupId}/channels`)).json().data[0].id;
  ch.private = (await call(u.owner, 'POST', `/groups/${groupId}/channels`, { name: 'staff', is_private: true })).json().id;
  ch.news = (await call(u.owner, 'POST', `/groups/${groupId}/channels`, { name: 'news', type: 'announcement' })).json().id;
  expect((await call(u.owner, 'PUT', `/channels/${ch.private}/permissions/${roleIds.mod}`, { allow: P.VIEW_CHANNEL, deny: 0 })).statusCode).toBe(200);
  target.public = (await call(u.member, 'POST', `/channels/${ch.public}/messages`, { content: 'hello' })).json().id;
  target.private = (await call(u.owner, 'POST', `/channels/${ch.private}/messages`, { content: 'staff only' })).json().id;
  target.news = (await call(u.owner, 'POST', `/channels/${ch.news}/messages`, { content: 'release!' })).json().id;
  expect((await call(u.owner, 'POST', `/groups/${groupId}/bans/${u.banned.user.id}`)).statusCode).toBe(204);
});

type Channel = keyof typeof ch;
type Action = 'view' | 'read' | 'send' | 'delete_others' | 'react';

// Expected status per (who, channel, action). 404 = may not see it; 403 = sees, may not do.
const expected: Record<Who, Record<Channel, Record<Action, number>>> = {
  owner: {
    public: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
    private: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
    news: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
  },
  admin: {
    public: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
    private: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
    news: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
  },
  moderator: {
    public: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
    private: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
    news: { view: 200, read: 200, send: 201, delete_others: 204, react: 204 },
  },
  member: {
    public: { view: 200, read: 200, send: 201, delete_others: 403, react: 204 },
    private: { view: 404, read: 404, send: 404, delete_others: 404, react: 404 },
    news: { view: 200, read: 200, send: 403, delete_others: 403, react: 204 },
  },
  outsider: {
    public: { view: 404, read: 404, send: 404, delete_others: 404, react: 404 },
    private: { view: 404, read: 404, send: 404, delete_others: 404, react: 404 },
    news: { view: 404, read: 404, send: 404, delete_others: 404, react: 404 },
  },
  banned: {
    public: { view: 404, read: 404, send: 404, delete_others: 404, react: 404 },
    private: { view: 404, read: 404, send: 404, delete_others: 404, react: 404 },
    news: { view: 404, read: 404, send: 404, delete_others: 404, react: 404 },
  },
};

async function attempt(who: Who, channel: Channel, action: Action): Promise<number> {
  const id = ch[channel];
  switch (action) {
    case 'view':
      return (await call(u[who], 'GET', `/channels/${id}`)).statusCode;
    case 'read':
      return (await call(u[who], 'GET', `/channels/${id}/messages`)).statusCode;
    case 'send':
      return (await call(u[who], 'POST', `/channels/${id}/messages`, { content: `from ${who}` })).statusCode;
    case 'react':
      return (await call(u[who], 'PUT', `/channels/${id}/messages/${target[channel]}/reactions/${encodeURIComponent('👍')}`)).statusCode;
    case 'delete_others': {
      // A fresh message by someone else each time (the owner's, or the admin's for the owner).
      const author = who === 'owner' ? u.admin : u.owner;
      const posted = await call(author, 'POST', `/channels/${id}/messages`, { content: 'delete me' });
      expect(posted.statusCode).toBe(201);
      return (await call(u[who], 'DELETE', `/channels/${id}/messages/${posted.json().id}`)).statusCode;
    }
  }
}

describe('the matrix over HTTP', () => {
  for (const who of people) {
    for (const channel of Object.keys(ch) as Channel[]) {
      it(`${who} in ${channel}`, async () => {
        const got: Record<string, number> = {};
        for (const action of Object.keys(expected[who][channel]) as Action[]) got[action] = await attempt(who, channel, action);
        expect(got).toEqual(expected[who][channel]);
        // The gateway's question agrees with REST.
        expect(await mayViewChannel(api.t.db, u[who].user.id, ch[channel])).toBe(expected[who][channel].view === 200);
      });
    }
  }

  it('the channel list shows each caller exactly the channels they may view', async () => {
    const names = async (who: Who) => (await call(u[who], 'GET', `/groups/${groupId}/channels`)).json().data.map((c: { id: string }) => c.id);
    expect(await names('owner')).toEqual([ch.public, ch.private, ch.news]);
    expect(await names('moderator')).toEqual([ch.public, ch.private, ch.news]);
    expect(await names('member')).toEqual([ch.public, ch.news]);
    expect((await call(u.outsider, 'GET', `/groups/${groupId}/channels`)).statusCode).toBe(404);
    expect((await call(u.banned, 'GET', `/groups/${groupId}/channels`)).statusCode).toBe(404);
  });

  it('group actions: kick by rank, roles and channels by permission', async () => {
    expect((await call(u.member, 'POST', `/groups/${groupId}/channels`, { name: 'x' })).statusCode).toBe(403);
    expect((await call(u.moderator, 'POST', `/groups/${groupId}/roles`, { name: 'x' })).statusCode).toBe(403);
    expect((await call(u.outsider, 'POST', `/groups/${groupId}/roles`, { name: 'x' })).statusCode).toBe(404);
    expect((await call(u.moderator, 'DELETE', `/groups/${groupId}/members/${u.admin.user.id}`)).statusCode).toBe(403);
    expect((await call(u.admin, 'PATCH', `/groups/${groupId}`, { description: 'by admin' })).statusCode).toBe(200);
  });

  it('a channel list costs one statement after auth, whatever the number of channels', async () => {
    for (let i = 0; i < 5; i++) await call(u.owner, 'POST', `/groups/${groupId}/channels`, { name: `extra-${i}` });
    const { queries } = await countQueries(api.t, () => call(u.moderator, 'GET', `/groups/${groupId}/channels`));
    const mine = queries.filter((q) => /channels|group_members/.test(q) && !/sessions/.test(q));
    expect(mine).toHaveLength(1);
  });
});

describe('no stale permissions', () => {
  it('removing a role or a member counts on the very next request', async () => {
    const rookie = await api.register('ac_rookie');
    const { invite_code } = (await call(u.owner, 'POST', `/groups/${groupId}/invite`)).json();
    await call(rookie, 'POST', `/invites/${invite_code}`);
    await call(u.owner, 'PATCH', `/groups/${groupId}/members/${rookie.user.id}`, { role_ids: [roleIds.mod] });
    expect((await call(rookie, 'GET', `/channels/${ch.private}`)).statusCode).toBe(200);
    await call(u.owner, 'PATCH', `/groups/${groupId}/members/${rookie.user.id}`, { role_ids: [] });
    expect((await call(rookie, 'GET', `/channels/${ch.private}`)).statusCode).toBe(404);
    expect(await mayViewChannel(api.t.db, rookie.user.id, ch.private)).toBe(false);
    expect(await mayViewGroup(api.t.db, rookie.user.id, groupId)).toBe(true);
    await call(u.owner, 'DELETE', `/groups/${groupId}/members/${rookie.user.id}`);
    expect(await mayViewGroup(api.t.db, rookie.user.id, groupId)).toBe(false);
    expect((await call(rookie, 'GET', `/channels/${ch.public}`)).statusCode).toBe(404);
    expect(await mayViewChannel(api.t.db, rookie.user.id, ch.public)).toBe(false);
  });

  it('an @everyone deny overwrite closes a channel to plain members at once; deleting it reopens', async () => {
    const everyone = (await call(u.owner, 'GET', `/groups/${groupId}/roles`)).json().data.find((r: { is_default: boolean }) => r.is_default);
    const put = await call(u.owner, 'PUT', `/channels/${ch.public}/permissions/${everyone.id}`, { allow: 0, deny: P.SEND_MESSAGES });
    expect(put.statusCode).toBe(200);
    expect((await call(u.member, 'POST', `/channels/${ch.public}/messages`, { content: 'hi' })).statusCode).toBe(403);
    // The deny reaches everyone whose roles do not allow it back; administrators bypass it.
    expect((await call(u.moderator, 'POST', `/channels/${ch.public}/messages`, { content: 'hi' })).statusCode).toBe(403);
    expect((await call(u.admin, 'POST', `/channels/${ch.public}/messages`, { content: 'hi' })).statusCode).toBe(201);
    expect((await call(u.owner, 'DELETE', `/channels/${ch.public}/permissions/${everyone.id}`)).statusCode).toBe(204);
    expect((await call(u.member, 'POST', `/channels/${ch.public}/messages`, { content: 'hi' })).statusCode).toBe(201);
  });
});

describe('the channel list resolves permissions as the single-channel loader does', () => {
  it('for every member and channel, with @everyone and role overwrites, private and announcement channels', async () => {
    const [boss, x, y, z] = await Promise.all(['ac_boss', 'ac_x', 'ac_y', 'ac_z'].map((n) => api.register(n)));
    const gid = (await call(boss!, 'POST', '/groups', { name: 'Folding' })).json().id;
    const { invite_code } = (await call(boss!, 'POST', `/groups/${gid}/invite`)).json();
    for (const m of [x, y, z]) expect((await call(m!, 'POST', `/invites/${invite_code}`)).statusCode).toBe(200);
    const role = async (name: string, position: number, permissions: number) =>
      (await call(boss!, 'POST', `/groups/${gid}/roles`, { name, position, permissions })).json().id as string;
    const a = await role('a', 1, 0);
    const b = await role('b', 2, P.MANAGE_MESSAGES);
    const c = await role('c', 3, P.MENTION_EVERYONE);
    await call(boss!, 'PATCH', `/groups/${gid}/members/${x!.user.id}`, { role_ids: [a, b] });
    await call(boss!, 'PATCH', `/groups/${gid}/members/${y!.user.id}`, { role_ids: [c] });
    const everyone = (await call(boss!, 'GET', `/groups/${gid}/roles`)).json().data.find((r: { is_default: boolean }) => r.is_default).id;
    const channel = async (body: object, overwrites: Array<[string, number, number]>) => {
      const id = (await call(boss!, 'POST', `/groups/${gid}/channels`, body)).json().id as string;
      for (const [roleId, allow, deny] of overwrites) {
        expect((await call(boss!, 'PUT', `/channels/${id}/permissions/${roleId}`, { allow, deny })).statusCode).toBe(200);
      }
      return id;
    };
    await channel({ name: 'muted' }, [[everyone, 0, P.SEND_MESSAGES], [a, P.SEND_MESSAGES, 0]]);
    await channel({ name: 'b-only', is_private: true }, [[b, P.VIEW_CHANNEL, 0]]);
    await channel({ name: 'news', type: 'announcement' }, [[c, P.MANAGE_MESSAGES, 0]]);
    await channel({ name: 'split' }, [[a, 0, P.READ_HISTORY], [b, P.READ_HISTORY, 0], [c, 0, P.READ_HISTORY]]);
    await channel({ name: 'open-but-a', is_private: true }, [[everyone, P.VIEW_CHANNEL, 0], [a, 0, P.VIEW_CHANNEL], [c, 0, P.ADD_REACTIONS]]);
    const odd = await channel({ name: 'odd', topic: 'a "quoted" | topic\nover two lines \u0001 ✓ \\ end' }, []);
    // Unread counts differ per member: boss read up to the first of three messages.
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push((await call(y!, 'POST', `/channels/${odd}/messages`, { content: text })).json().id);
    await call(boss!, 'POST', `/channels/${odd}/read`, { message_id: sent[0] });
    const all = await api.t.db.selectFrom('channels').select('id').where('group_id', '=', gid).orderBy('position').orderBy('id').execute();
    for (const member of [boss!, x!, y!, z!]) {
      const listed = (await call(member, 'GET', `/groups/${gid}/channels`)).json().data as Array<{ id: string; permissions: number }>;
      const expected: Array<{ id: string; permissions: number }> = [];
      for (const { id } of all) {
        const found = await loadChannelAccess(api.t.db, id, member.user.id);
        if (found && (found.permissions & P.VIEW_CHANNEL) !== 0) expected.push({ id, permissions: found.permissions });
      }
      expect(listed.map(({ id, permissions }) => ({ id, permissions }))).toEqual(expected);
      // The list's rendering holds exactly the object view of each channel (GET /channels/:id).
      for (const entry of listed) {
        const { overwrites: _, ...view } = (await call(member, 'GET', `/channels/${entry.id}`)).json();
        expect(entry).toStrictEqual(view);
      }
    }
    const oddEntry = (await call(boss!, 'GET', `/groups/${gid}/channels`)).json().data.find((ch: { id: string }) => ch.id === odd);
    expect(oddEntry).toMatchObject({ topic: 'a "quoted" | topic\nover two lines \u0001 ✓ \\ end', last_message_seq: 3, last_read_seq: 1, unread_count: 2 });
    // The cases differ: x and y do not see the same channels with the same bits.
    const bits = async (m: User) => JSON.stringify((await call(m, 'GET', `/groups/${gid}/channels`)).json().data.map((ch: { permissions: number }) => ch.permissions));
    expect(new Set([await bits(x!), await bits(y!), await bits(z!)]).size).toBe(3);
  });
});
