// The kept channel access (access-cache.ts): groups.access_version moves on every change
// that decides permissions (triggers, so also on changes made behind the application's
// back), a send and a history page with a kept access are one statement each, and a change
// counts on the very next request through either.
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { countQueries } from '../../../test/db.ts';
import { multipartBody, PNG } from '../attachments/test-helpers.ts';
import { Permission as P } from './permissions.ts';

const api = useTestApp();
type User = Awaited<ReturnType<typeof api.register>>;
const call = (as: User, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  api.call({ method, url: `/api/v1${url}`, token: as.token, ...(payload === undefined ? {} : { payload }) });

let owner: User, amy: User, ben: User;
let groupId = '';
let general = '';
let everyoneId = '';
let speakerId = '';
let inviteCode = '';

const version = async () =>
  (await api.t.db.selectFrom('groups').select('access_version').where('id', '=', groupId).executeTakeFirstOrThrow()).access_version;
const messageCount = async (channelId: string) =>
  Number((await api.t.db.selectFrom('channel_messages').select((eb) => eb.fn.countAll().as('n')).where('channel_id', '=', channelId).executeTakeFirstOrThrow()).n);
const send = (as: User, channelId: string, content = 'hello') => call(as, 'POST', `/channels/${channelId}/messages`, { content });
const history = (as: User, channelId: string) => call(as, 'GET', `/channels/${channelId}/messages?limit=10`);
const memberId = async (userId: string) =>
  (await api.t.db.selectFrom('group_members').select('id').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirstOrThrow()).id;

beforeAll(async () => {
  [owner, amy, ben] = (await Promise.all(['kc_owner', 'kc_amy', 'kc_ben'].map((n) => api.register(n)))) as [User, User, User];
  groupId = (await call(owner, 'POST', '/groups', { name: 'Kept' })).json().id;
  inviteCode = (await call(owner, 'POST', `/groups/${groupId}/invite`)).json().invite_code;
  for (const u of [amy, ben]) expect((await call(u, 'POST', `/invites/${inviteCode}`)).statusCode).toBe(200);
  general = (await call(owner, 'GET', `/groups/${groupId}/channels`)).json().data[0].id;
  const roles = (await call(owner, 'GET', `/groups/${groupId}/roles`)).json().data as Array<{ id: string; is_default: boolean }>;
  everyoneId = roles.find((r) => r.is_default)!.id;
  speakerId = (await call(owner, 'POST', `/groups/${groupId}/roles`, { name: 'speaker', position: 1, permissions: P.SEND_MESSAGES })).json().id;
});

describe('groups.access_version', () => {
  it('moves on every change that decides permissions, also made directly in SQL', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'versioned' })).json().id as string;
    const db = api.t.db;
    const amyMember = await memberId(amy.user.id);
    const briefId = (await call(owner, 'POST', `/groups/${groupId}/roles`, { name: 'brief', position: 1 })).json().id as string;
    const changes: Array<[string, () => Promise<unknown>]> = [
      ['a member leaves', () => call(ben, 'DELETE', `/groups/${groupId}/members/${ben.user.id}`)],
      ['a member joins', () => call(ben, 'POST', `/invites/${inviteCode}`)],
      ['a role is given', () => db.insertInto('group_member_roles').values({ group_id: groupId, group_member_id: amyMember, role_id: speakerId }).execute()],
      ['a role is taken', () => db.deleteFrom('group_member_roles').where('group_member_id', '=', amyMember).execute()],
      ['a role changes permissions', () => db.updateTable('roles').set({ permissions: P.SEND_MESSAGES | P.ADD_REACTIONS }).where('id', '=', speakerId).execute()],
      ['a role moves', () => db.updateTable('roles').set({ position: 2 }).where('id', '=', speakerId).execute()],
      ['@everyone changes', () => db.updateTable('roles').set({ permissions: sql<number>`permissions | ${P.MENTION_EVERYONE}` }).where('id', '=', everyoneId).execute()],
      ['an overwrite is set', () => db.insertInto('channel_permission_overwrites').values({ group_id: groupId, channel_id: channel, role_id: everyoneId, allow: 0, deny: P.SEND_MESSAGES }).execute()],
      ['an overwrite changes', () => db.updateTable('channel_permission_overwrites').set({ deny: P.ADD_REACTIONS }).where('channel_id', '=', channel).execute()],
      ['an overwrite goes', () => db.deleteFrom('channel_permission_overwrites').where('channel_id', '=', channel).execute()],
      ['a channel turns private', () => db.updateTable('channels').set({ is_private: true }).where('id', '=', channel).execute()],
      ['a channel changes type', () => db.updateTable('channels').set({ type: 'announcement' }).where('id', '=', channel).execute()],
      // The channel list keeps channels' own fields at a version too (channel-list.ts).
      ['a channel is renamed', () => db.updateTable('channels').set({ name: 'renamed', topic: 'a topic' }).where('id', '=', channel).execute()],
      ['a channel moves', () => db.updateTable('channels').set({ position: 7 }).where('id', '=', channel).execute()],
      ['a channel is created', () => call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'another' })],
      ['a role is deleted', () => call(owner, 'DELETE', `/groups/${groupId}/roles/${briefId}`)],
      ['a member is kicked', () => call(owner, 'DELETE', `/groups/${groupId}/members/${ben.user.id}`)],
      ['a channel is deleted', () => call(owner, 'DELETE', `/channels/${channel}`)],
    ];
    for (const [what, change] of changes) {
      const before = await version();
      await change();
      expect(await version(), what).toBeGreaterThan(before);
    }
    // Ownership: transferred and back.
    let before = await version();
    await db.updateTable('groups').set({ owner_id: amy.user.id }).where('id', '=', groupId).execute();
    expect(await version()).toBeGreaterThan(before);
    await db.updateTable('groups').set({ owner_id: owner.user.id }).where('id', '=', groupId).execute();

    // Not by what neither decides nor shows in the channel list: sends, reads, nicknames, the group's name.
    before = await version();
    expect((await send(amy, general)).statusCode).toBe(201);
    expect((await history(amy, general)).statusCode).toBe(200);
    await db.updateTable('group_members').set({ nickname: 'Ames' }).where('id', '=', amyMember).execute();
    await db.updateTable('groups').set({ name: 'Kept (renamed)' }).where('id', '=', groupId).execute();
    expect(await version()).toBe(before);
  });
});

describe('a kept access', () => {
  it('makes a send and a history page one statement each; the first of each loads the access', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'hot' })).json().id as string;
    const mine = (queries: string[]) => queries.filter((q) => /channel|group/.test(q) && !/sessions/.test(q));
    const first = await countQueries(api.t, () => send(amy, channel, 'one'));
    expect(first.result.statusCode).toBe(201);
    expect(mine(first.queries)).toHaveLength(2);
    const second = await countQueries(api.t, () => send(amy, channel, 'two'));
    expect(second.result.statusCode).toBe(201);
    expect(mine(second.queries)).toHaveLength(1);
    expect(mine(second.queries)[0]).toMatch(/access_version/);
    // READ_HISTORY is another bit than SEND_MESSAGES, and amy holds both: the kept access serves.
    const page = await countQueries(api.t, () => history(amy, channel));
    expect(page.result.json().data.map((m: { content: string }) => m.content)).toEqual(['two', 'one']);
    expect(mine(page.queries)).toHaveLength(1);
  });

  it('a role taken away behind its back counts on the very next send; given back, at once', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'speakers' })).json().id as string;
    // Only speakers may send here.
    await call(owner, 'PUT', `/channels/${channel}/permissions/${everyoneId}`, { allow: 0, deny: P.SEND_MESSAGES });
    await call(owner, 'PUT', `/channels/${channel}/permissions/${speakerId}`, { allow: P.SEND_MESSAGES, deny: 0 });
    await call(owner, 'PATCH', `/groups/${groupId}/members/${amy.user.id}`, { role_ids: [speakerId] });
    expect((await send(amy, channel, 'as a speaker')).statusCode).toBe(201);
    expect((await send(amy, channel, 'kept')).statusCode).toBe(201);
    const count = await messageCount(channel);

    await api.t.db.deleteFrom('group_member_roles').where('group_member_id', '=', await memberId(amy.user.id)).execute();
    const refused = await send(amy, channel, 'no longer a speaker');
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('missing_permission');
    expect(await messageCount(channel)).toBe(count);

    // A refusal is never kept: the role given back counts on the next request too.
    await api.t.db.insertInto('group_member_roles').values({ group_id: groupId, group_member_id: await memberId(amy.user.id), role_id: speakerId }).execute();
    expect((await send(amy, channel, 'a speaker again')).statusCode).toBe(201);
  });

  it('a bit missing from the kept access is asked afresh before any refusal (ATTACH_FILES given back)', async () => {
    const fay = await api.register('kc_fay');
    expect((await call(fay, 'POST', `/invites/${inviteCode}`)).statusCode).toBe(200);
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'files' })).json().id as string;
    await call(owner, 'PUT', `/channels/${channel}/permissions/${everyoneId}`, { allow: 0, deny: P.ATTACH_FILES });
    // Kept: SEND_MESSAGES without ATTACH_FILES.
    expect((await send(fay, channel, 'text only')).statusCode).toBe(201);
    const upload = async () => {
      const { payload, headers } = multipartBody({ filename: 'pic.png', contentType: 'image/png', data: PNG });
      return (await api.call({ method: 'POST', url: '/api/v1/attachments', token: fay.token, payload, headers })).json<{ id: string }>().id;
    };
    const image = (id: string) => call(fay, 'POST', `/channels/${channel}/messages`, { content: '', type: 'image', attachment_ids: [id] });
    expect((await image(await upload())).statusCode).toBe(403);
    // The deny goes in SQL: the kept access still lacks the bit, the fresh one has it.
    await api.t.db.deleteFrom('channel_permission_overwrites').where('channel_id', '=', channel).execute();
    expect((await image(await upload())).statusCode).toBe(201);
  });

  it('a member removed, or a channel closed, gets 404 on the next send and page, and sees nothing', async () => {
    const dora = await api.register('kc_dora');
    expect((await call(dora, 'POST', `/invites/${inviteCode}`)).statusCode).toBe(200);
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'closing' })).json().id as string;
    expect((await send(dora, channel, 'first')).statusCode).toBe(201);
    expect((await history(dora, channel)).json().data).toHaveLength(1);

    // Closed to @everyone by an overwrite written directly: the kept access is outdated.
    await api.t.db.insertInto('channel_permission_overwrites').values({ group_id: groupId, channel_id: channel, role_id: everyoneId, allow: 0, deny: P.VIEW_CHANNEL }).execute();
    const page = await history(dora, channel);
    expect(page.statusCode).toBe(404);
    expect(page.body).not.toContain('first');
    expect((await send(dora, channel, 'closed')).statusCode).toBe(404);
    await api.t.db.deleteFrom('channel_permission_overwrites').where('channel_id', '=', channel).execute();
    expect((await history(dora, channel)).json().data).toHaveLength(1);

    // Removed from the group (a kick by SQL, as another node would commit it).
    await api.t.db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', dora.user.id).execute();
    expect((await send(dora, channel, 'gone')).statusCode).toBe(404);
    expect((await history(dora, channel)).statusCode).toBe(404);
    expect(await messageCount(channel)).toBe(1);
  });

  it('an empty channel is an empty page, not a retry loop', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'empty' })).json().id as string;
    expect((await history(amy, channel)).json()).toEqual({ data: [], next_cursor: null });
    const again = await countQueries(api.t, () => history(amy, channel));
    expect(again.result.json().data).toEqual([]);
    // The page, then the fresh access that tells "empty" from "access changed".
    expect(again.queries.filter((q) => /channel/.test(q) && !/sessions/.test(q))).toHaveLength(2);
  });
});

describe('the channel list with kept definitions', () => {
  it('after every kind of change, equals the fresh view of each channel the caller may see', async () => {
    const eve = await api.register('kc_eve');
    expect((await call(eve, 'POST', `/invites/${inviteCode}`)).statusCode).toBe(200);
    const list = async (as: User) => (await call(as, 'GET', `/groups/${groupId}/channels`)).json().data as Array<{ id: string }>;
    const expectFresh = async (as: User, what: string) => {
      const listed = await list(as);
      // Every channel of the group the caller may view, each as GET /channels/:id shows it.
      const all = await api.t.db.selectFrom('channels').select('id').where('group_id', '=', groupId).orderBy('position').orderBy('id').execute();
      const views = [];
      for (const { id } of all) {
        const one = await call(as, 'GET', `/channels/${id}`);
        if (one.statusCode === 200) {
          const { overwrites: _, ...view } = one.json();
          views.push(view);
        }
      }
      expect(listed, what).toStrictEqual(views);
      return listed;
    };
    const room = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'lobby' })).json().id as string;
    await expectFresh(eve, 'first');
    await expectFresh(eve, 'kept');
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['a message', () => send(amy, room, 'news')],
      ['read', () => call(eve, 'POST', `/channels/${room}/read`)],
      ['another message', () => send(amy, room, 'more news')],
      ['renamed', () => call(owner, 'PATCH', `/channels/${room}`, { name: 'hall', topic: 'now a hall' })],
      ['a channel created', () => call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'annex' })],
      ['closed to @everyone', () => call(owner, 'PUT', `/channels/${room}/permissions/${everyoneId}`, { allow: 0, deny: P.VIEW_CHANNEL })],
      ['opened to speakers', () => call(owner, 'PUT', `/channels/${room}/permissions/${speakerId}`, { allow: P.VIEW_CHANNEL, deny: 0 })],
      ['eve made a speaker', () => call(owner, 'PATCH', `/groups/${groupId}/members/${eve.user.id}`, { role_ids: [speakerId] })],
      ['speakers lose a bit (in SQL)', () => api.t.db.updateTable('roles').set({ permissions: 0 }).where('id', '=', speakerId).execute()],
      ['reordered (in SQL)', () => api.t.db.updateTable('channels').set({ position: 99 }).where('id', '=', room).execute()],
      ['a channel deleted', () => call(owner, 'DELETE', `/channels/${room}`)],
    ];
    for (const [what, step] of steps) {
      await step();
      await expectFresh(eve, what);
      await expectFresh(owner, `${what} (owner)`);
    }
  });
});
