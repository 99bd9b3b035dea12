// Groups over HTTP: create, read, discovery, invites (exact uses under concurrency),
// joining, leaving, kicks, bans, nicknames, ownership and deletion.
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { sweepDeadInvites } from './invites.ts';
import { Permission as P } from './permissions.ts';

const api = useTestApp();
type User = Awaited<ReturnType<typeof api.register>>;

const post = (as: User, url: string, payload?: object) => api.call({ method: 'POST', url: `/api/v1${url}`, token: as.token, ...(payload === undefined ? {} : { payload }) });
const get = (as: User, url: string) => api.call({ method: 'GET', url: `/api/v1${url}`, token: as.token });
const patch = (as: User, url: string, payload: object) => api.call({ method: 'PATCH', url: `/api/v1${url}`, token: as.token, payload });
const del = (as: User, url: string) => api.call({ method: 'DELETE', url: `/api/v1${url}`, token: as.token });

async function newGroup(owner: User, body: Record<string, unknown> = {}) {
  const res = await post(owner, '/groups', { name: 'A group', ...body });
  expect(res.statusCode).toBe(201);
  return res.json<{ id: string; invite_code: string | null; member_count: number }>();
}

async function join(user: User, groupId: string, owner: User) {
  const code = (await post(owner, `/groups/${groupId}/invite`)).json<{ invite_code: string }>().invite_code;
  const res = await post(user, `/invites/${code}`);
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe('create and read', () => {
  it('the creator owns it and is its only member; @everyone and #general exist', async () => {
    const ann = await api.register('gr_ann');
    const res = await post(ann, '/groups', { name: '  Rustaceans ', description: 'crabs', is_public: true });
    expect(res.statusCode).toBe(201);
    const group = res.json();
    expect(group).toMatchObject({ name: 'Rustaceans', description: 'crabs', is_public: true, owner_id: ann.user.id, member_count: 1, member: true });
    expect(group.permissions).toBe(65535);

    const roles = (await get(ann, `/groups/${group.id}/roles`)).json().data;
    expect(roles).toMatchObject([{ name: '@everyone', position: 0, is_default: true }]);
    expect(roles[0].permissions & P.VIEW_CHANNEL).toBe(P.VIEW_CHANNEL);
    expect(roles[0].permissions & P.MANAGE_GROUP).toBe(0);

    const channels = (await get(ann, `/groups/${group.id}/channels`)).json().data;
    expect(channels).toMatchObject([{ name: 'general', type: 'text', is_private: false, unread_count: 0 }]);

    const members = (await get(ann, `/groups/${group.id}/members`)).json().data;
    expect(members).toMatchObject([{ user: { id: ann.user.id }, is_owner: true, role_ids: [] }]);
    expect((await get(ann, '/groups')).json().data.map((g: { id: string }) => g.id)).toContain(group.id);
  });

  it('my groups are keyset-paged, each with my permissions', async () => {
    const pia = await api.register('gr_pia');
    const made = [];
    for (let i = 0; i < 3; i++) made.push((await newGroup(pia, { name: `mine ${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(pia, `/groups?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ data: Array<{ id: string; permissions: number }>; next_cursor: string | null }>();
      expect(page.data.every((g) => g.permissions === 65535)).toBe(true);
      seen.push(...page.data.map((g) => g.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(made.sort());
  });

  it('422 on a blank name or a bad icon URL', async () => {
    const bo = await api.register('gr_bo');
    const blank = await post(bo, '/groups', { name: '   ' });
    expect(blank.statusCode).toBe(422);
    expect(blank.json().error.fields).toEqual({ name: ["can't be blank"] });
    expect((await post(bo, '/groups', { name: 'x', icon_url: 'javascript:alert(1)' })).statusCode).toBe(422);
  });

  it('a private group is a 404 to outsiders; a public one is readable, without its invite', async () => {
    const cy = await api.register('gr_cy');
    const dee = await api.register('gr_dee');
    const hidden = await newGroup(cy);
    const open = await newGroup(cy, { is_public: true });
    expect((await get(dee, `/groups/${hidden.id}`)).statusCode).toBe(404);
    expect((await get(dee, `/groups/${hidden.id}/members`)).statusCode).toBe(404);
    expect((await get(dee, `/groups/${hidden.id}/channels`)).statusCode).toBe(404);
    const seen = await get(dee, `/groups/${open.id}`);
    expect(seen.statusCode).toBe(200);
    expect(seen.json()).toMatchObject({ member: false, permissions: 0, invite_code: null });
    // Members-only parts of a public group stay hidden.
    expect((await get(dee, `/groups/${open.id}/members`)).statusCode).toBe(404);
  });

  it('discovery lists public groups biggest first, keyset-paged', async () => {
    const ed = await api.register('gr_ed');
    const others = await Promise.all(['gr_d1', 'gr_d2', 'gr_d3'].map((n) => api.register(n)));
    const small = await newGroup(ed, { is_public: true, name: 'small' });
    const big = await newGroup(ed, { is_public: true, name: 'big' });
    await newGroup(ed, { is_public: false, name: 'secret' });
    for (const u of others) await join(u, big.id, ed);
    await join(others[0]!, small.id, ed);
    const seen: Array<{ id: string; member_count: number; is_public: boolean }> = [];
    let cursor: string | null = null;
    do {
      const res = await get(ed, `/groups/discover?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ data: typeof seen; next_cursor: string | null }>();
      seen.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.every((g) => g.is_public)).toBe(true);
    expect(new Set(seen.map((g) => g.id)).size).toBe(seen.length);
    const counts = seen.map((g) => g.member_count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    const ids = seen.map((g) => g.id);
    expect(ids.indexOf(big.id)).toBeLessThan(ids.indexOf(small.id));
    expect((await get(ed, '/groups/discover?cursor=bogus')).statusCode).toBe(400);
  });
});

describe('invites', () => {
  it('regenerating replaces the default code; the old one stops working', async () => {
    const fay = await api.register('gr_fay');
    const gus = await api.register('gr_gus');
    const group = await newGroup(fay);
    const first = (await post(fay, `/groups/${group.id}/invite`)).json().invite_code;
    const second = (await post(fay, `/groups/${group.id}/invite`)).json().invite_code;
    expect(second).not.toBe(first);
    expect((await get(fay, `/groups/${group.id}`)).json().invite_code).toBe(second);
    const stale = await post(gus, `/invites/${first}`);
    expect(stale.statusCode).toBe(404);
    expect(stale.json().error.code).toBe('invite_invalid');
    expect((await post(gus, `/invites/${second}`)).statusCode).toBe(200);
    expect((await post(gus, '/invites/not-a-code!')).statusCode).toBe(404);
  });

  it('max_uses is exact under concurrent joins; an already-member takes no use', async () => {
    const hal = await api.register('gr_hal');
    const group = await newGroup(hal);
    const res = await post(hal, `/groups/${group.id}/invite`, { max_uses: 3 });
    expect(res.statusCode).toBe(201);
    const { invite_code } = res.json();
    const joiners = await Promise.all(Array.from({ length: 8 }, (_, i) => api.register(`gr_j${i}`)));
    const results = await Promise.all(joiners.map((u) => post(u, `/invites/${invite_code}`)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(3);
    expect(results.filter((r) => r.statusCode === 404)).toHaveLength(5);
    const row = await api.t.db.selectFrom('group_invites').select('uses').where('code', '=', invite_code).executeTakeFirstOrThrow();
    expect(row.uses).toBe(3);
    const g = await api.t.db.selectFrom('groups').select('member_count').where('id', '=', group.id).executeTakeFirstOrThrow();
    expect(g.member_count).toBe(4);
    // A member joining again: 200, no use taken.
    const winner = joiners[results.findIndex((r) => r.statusCode === 200)]!;
    expect((await post(winner, `/invites/${invite_code}`)).statusCode).toBe(200);
    // The member list pages through all four, in join order, the owner first.
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: Array<{ user: { id: string } }>; next_cursor: string | null } = (await get(hal, `/groups/${group.id}/members?limit=3${cursor ? `&cursor=${cursor}` : ''}`)).json();
      ids.push(...page.data.map((m: { user: { id: string } }) => m.user.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(ids).toHaveLength(4);
    expect(ids[0]).toBe(hal.user.id);
  });

  it('an expired invite is invalid; limits are validated', async () => {
    const ivy = await api.register('gr_ivy');
    const jo = await api.register('gr_jo');
    const group = await newGroup(ivy);
    const { invite_code } = (await post(ivy, `/groups/${group.id}/invite`, { expires_in_seconds: 60 })).json();
    await api.t.db.updateTable('group_invites').set({ expires_at: new Date(Date.now() - 1000) }).where('code', '=', invite_code).execute();
    expect((await post(jo, `/invites/${invite_code}`)).statusCode).toBe(404);
    expect((await post(ivy, `/groups/${group.id}/invite`, { max_uses: 0 })).statusCode).toBe(422);
    expect((await post(ivy, `/groups/${group.id}/invite`, { expires_in_seconds: 5 })).statusCode).toBe(422);
    // Outsiders cannot mint invites: the group does not exist for them.
    expect((await post(jo, `/groups/${group.id}/invite`)).statusCode).toBe(404);
  });
});

describe('invite management', () => {
  it('MANAGE_GROUP lists live invites; the creator or MANAGE_GROUP revokes; a revoked code is invalid', async () => {
    const wes = await api.register('gr_wes');
    const xia = await api.register('gr_xia');
    const yan = await api.register('gr_yan');
    const group = await newGroup(wes);
    await join(xia, group.id, wes);
    const limited = (await post(xia, `/groups/${group.id}/invite`, { max_uses: 5 })).json().invite_code;
    const listed = await get(wes, `/groups/${group.id}/invites`);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().data.map((i: { invite_code: string }) => i.invite_code)).toContain(limited);
    expect((await get(xia, `/groups/${group.id}/invites`)).statusCode).toBe(403);
    const defaultCode = (await get(wes, `/groups/${group.id}`)).json().invite_code;
    expect((await del(xia, `/groups/${group.id}/invites/${defaultCode}`)).statusCode).toBe(403);
    expect((await del(xia, `/groups/${group.id}/invites/${limited}`)).statusCode).toBe(204);
    expect((await post(yan, `/invites/${limited}`)).statusCode).toBe(404);
    expect((await del(wes, `/groups/${group.id}/invites/${defaultCode}`)).statusCode).toBe(204);
    expect((await get(wes, `/groups/${group.id}`)).json().invite_code).toBeNull();
    expect((await del(wes, `/groups/${group.id}/invites/${defaultCode}`)).statusCode).toBe(404);
  });

  it('the sweep deletes expired and used-up invites, and keeps live ones and the default', async () => {
    const zed = await api.register('gr_zed');
    const amo = await api.register('gr_amo');
    const group = await newGroup(zed);
    const code = async (body: object) => (await post(zed, `/groups/${group.id}/invite`, body)).json<{ invite_code: string }>().invite_code;
    const defaultCode = await code({});
    const expired = await code({ expires_in_seconds: 60 });
    const usedUp = await code({ max_uses: 1 });
    const live = await code({ max_uses: 2, expires_in_seconds: 3600 });
    await api.t.db.updateTable('group_invites').set({ expires_at: new Date(Date.now() - 1000) }).where('code', '=', expired).execute();
    expect((await post(amo, `/invites/${usedUp}`)).statusCode).toBe(200);
    expect(await sweepDeadInvites(api.t.db)).toBeGreaterThanOrEqual(2);
    const left = await api.t.db.selectFrom('group_invites').select('code').where('group_id', '=', group.id).execute();
    expect(left.map((i) => i.code).sort()).toEqual([defaultCode, live].sort());
    expect((await get(zed, `/groups/${group.id}`)).json().invite_code).toBe(defaultCode);
    expect(await sweepDeadInvites(api.t.db)).toBe(0);
  });
});

describe('membership', () => {
  it('leave; the owner cannot leave; kick needs KICK_MEMBERS and rank', async () => {
    const kim = await api.register('gr_kim');
    const lee = await api.register('gr_lee');
    const max = await api.register('gr_max');
    const group = await newGroup(kim);
    await join(lee, group.id, kim);
    await join(max, group.id, kim);
    const ownerLeaves = await del(kim, `/groups/${group.id}/members/${kim.user.id}`);
    expect(ownerLeaves.statusCode).toBe(409);
    expect(ownerLeaves.json().error.code).toBe('owner_cannot_leave');
    const kick = await del(lee, `/groups/${group.id}/members/${max.user.id}`);
    expect(kick.statusCode).toBe(403);
    expect(kick.json().error.code).toBe('missing_permission');
    expect((await del(kim, `/groups/${group.id}/members/${max.user.id}`)).statusCode).toBe(204);
    expect((await get(max, `/groups/${group.id}`)).statusCode).toBe(404);
    expect((await del(lee, `/groups/${group.id}/members/${lee.user.id}`)).statusCode).toBe(204);
    expect((await get(kim, `/groups/${group.id}`)).json().member_count).toBe(1);
  });

  it('a banned user is removed and cannot rejoin by invite until unbanned', async () => {
    const ned = await api.register('gr_ned');
    const ola = await api.register('gr_ola');
    const group = await newGroup(ned);
    await join(ola, group.id, ned);
    const { invite_code } = (await post(ned, `/groups/${group.id}/invite`)).json();
    expect((await post(ned, `/groups/${group.id}/bans/${ola.user.id}`, { reason: 'spam' })).statusCode).toBe(204);
    expect((await get(ola, `/groups/${group.id}`)).statusCode).toBe(404);
    const rejoin = await post(ola, `/invites/${invite_code}`);
    expect(rejoin.statusCode).toBe(403);
    expect(rejoin.json().error.code).toBe('banned_from_group');
    expect((await get(ned, `/groups/${group.id}/bans`)).json().data).toMatchObject([{ user_id: ola.user.id, reason: 'spam' }]);
    expect((await del(ned, `/groups/${group.id}/bans/${ola.user.id}`)).statusCode).toBe(204);
    expect((await del(ned, `/groups/${group.id}/bans/${ola.user.id}`)).statusCode).toBe(404);
    expect((await post(ola, `/invites/${invite_code}`)).statusCode).toBe(200);
  });

  it('hierarchy: a moderator kicks plain members but not peers, higher roles or the owner', async () => {
    const own = await api.register('gr_own');
    const mod1 = await api.register('gr_mod1');
    const mod2 = await api.register('gr_mod2');
    const pleb = await api.register('gr_pleb');
    const group = await newGroup(own);
    for (const u of [mod1, mod2, pleb]) await join(u, group.id, own);
    const modRole = (await post(own, `/groups/${group.id}/roles`, { name: 'mod', position: 5, permissions: P.KICK_MEMBERS | P.BAN_MEMBERS })).json();
    for (const u of [mod1, mod2]) {
      expect((await patch(own, `/groups/${group.id}/members/${u.user.id}`, { role_ids: [modRole.id] })).statusCode).toBe(200);
    }
    const peer = await del(mod1, `/groups/${group.id}/members/${mod2.user.id}`);
    expect(peer.statusCode).toBe(403);
    expect(peer.json().error.code).toBe('role_hierarchy');
    expect((await post(mod1, `/groups/${group.id}/bans/${own.user.id}`)).statusCode).toBe(403);
    expect((await del(mod1, `/groups/${group.id}/members/${own.user.id}`)).statusCode).toBe(403);
    expect((await del(mod1, `/groups/${group.id}/members/${pleb.user.id}`)).statusCode).toBe(204);
  });

  it('nicknames: your own freely, others only with MANAGE_GROUP', async () => {
    const pat = await api.register('gr_pat');
    const quin = await api.register('gr_quin');
    const group = await newGroup(pat);
    await join(quin, group.id, pat);
    const own = await patch(quin, `/groups/${group.id}/members/${quin.user.id}`, { nickname: ' Q ' });
    expect(own.statusCode).toBe(200);
    expect(own.json().nickname).toBe('Q');
    expect((await patch(quin, `/groups/${group.id}/members/${pat.user.id}`, { nickname: 'boss' })).statusCode).toBe(403);
    expect((await patch(pat, `/groups/${group.id}/members/${quin.user.id}`, { nickname: null })).json().nickname).toBeNull();
    expect((await patch(quin, `/groups/${group.id}/members/${quin.user.id}`, { nickname: 'x'.repeat(33) })).statusCode).toBe(422);
  });
});

describe('ownership and deletion', () => {
  it('transfer to a member; the old owner loses the owner rights', async () => {
    const rex = await api.register('gr_rex');
    const sue = await api.register('gr_sue');
    const tom = await api.register('gr_tom');
    const group = await newGroup(rex);
    await join(sue, group.id, rex);
    expect((await post(rex, `/groups/${group.id}/transfer`, { user_id: tom.user.id })).statusCode).toBe(422);
    expect((await post(sue, `/groups/${group.id}/transfer`, { user_id: sue.user.id })).statusCode).toBe(403);
    const moved = await post(rex, `/groups/${group.id}/transfer`, { user_id: sue.user.id });
    expect(moved.statusCode).toBe(200);
    expect(moved.json().owner_id).toBe(sue.user.id);
    expect((await del(rex, `/groups/${group.id}`)).statusCode).toBe(403);
    expect((await del(rex, `/groups/${group.id}/members/${rex.user.id}`)).statusCode).toBe(204);
  });

  it('PATCH needs MANAGE_GROUP; DELETE (owner) cascades to everything', async () => {
    const uma = await api.register('gr_uma');
    const vic = await api.register('gr_vic');
    const group = await newGroup(uma);
    await join(vic, group.id, uma);
    expect((await patch(vic, `/groups/${group.id}`, { name: 'mine' })).statusCode).toBe(403);
    const renamed = await patch(uma, `/groups/${group.id}`, { name: 'renamed', description: '' });
    expect(renamed.json()).toMatchObject({ name: 'renamed', description: null });
    expect((await del(uma, `/groups/${group.id}`)).statusCode).toBe(204);
    expect((await get(uma, `/groups/${group.id}`)).statusCode).toBe(404);
    for (const table of ['group_members', 'roles', 'channels', 'group_invites'] as const) {
      const left = await api.t.db.selectFrom(table).select('group_id').where('group_id', '=', group.id).execute();
      expect(left).toHaveLength(0);
    }
  });
});
