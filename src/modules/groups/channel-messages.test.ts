// Channel messages: everything direct messages have, through the shared message store,
// under the channel's permission rules; unread counts, mentions and @everyone.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { countQueries } from '../../../test/db.ts';
import { multipartBody, PNG } from '../attachments/test-helpers.ts';
import { sql } from 'kysely';
import { scheduledJobs } from '../../jobs/definitions.ts';
import { startJobWorker } from '../../jobs/worker.ts';
import { EVERYONE_MENTION_JOB, fanOutEveryoneMention } from './channel-notify.ts';
import { channelSendParams, channelSendQuery } from './channel-send.ts';
import { Permission as P } from './permissions.ts';

const api = useTestApp();
type User = Awaited<ReturnType<typeof api.register>>;
const call = (as: User, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  api.call({ method, url: `/api/v1${url}`, token: as.token, ...(payload === undefined ? {} : { payload }) });

let owner: User, mod: User, amy: User, ben: User, out: User;
let groupId = '';
let general = '';
let modRoleId = '';
let everyoneId = '';

beforeAll(async () => {
  [owner, mod, amy, ben, out] = (await Promise.all(['cm_owner', 'cm_mod', 'cm_amy', 'cm_ben', 'cm_out'].map((n) => api.register(n)))) as [User, User, User, User, User];
  groupId = (await call(owner, 'POST', '/groups', { name: 'Chat' })).json().id;
  const { invite_code } = (await call(owner, 'POST', `/groups/${groupId}/invite`)).json();
  for (const u of [mod, amy, ben]) await call(u, 'POST', `/invites/${invite_code}`);
  modRoleId = (await call(owner, 'POST', `/groups/${groupId}/roles`, { name: 'mod', position: 5, permissions: P.MANAGE_MESSAGES | P.MENTION_EVERYONE })).json().id;
  await call(owner, 'PATCH', `/groups/${groupId}/members/${mod.user.id}`, { role_ids: [modRoleId] });
  const channels = (await call(owner, 'GET', `/groups/${groupId}/channels`)).json().data;
  general = channels[0].id;
  everyoneId = (await call(owner, 'GET', `/groups/${groupId}/roles`)).json().data.find((r: { is_default: boolean }) => r.is_default).id;
});

/** A job worker on the test database running only the @everyone fan-out. */
const startWorker = () =>
  startJobWorker({
    config: api.t.config,
    logger: api.t.logger,
    database: api.t,
    applicationName: 'cgraph-test-worker',
    pollingIntervalSeconds: 0.5,
    definitions: scheduledJobs(api.t.config).filter((d) => d.name === EVERYONE_MENTION_JOB),
  });

async function until(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const send = (as: User, channelId: string, body: object) => call(as, 'POST', `/channels/${channelId}/messages`, body);
const notificationsOf = (userId: string) =>
  api.t.db.selectFrom('notifications').select(['type', 'actor_id', 'data']).where('user_id', '=', userId).orderBy('inserted_at').execute();

describe('sending and history', () => {
  it('a plain send is the access load and ONE statement (seq, insert, read position); a non-member changes nothing', async () => {
    const { result, queries } = await countQueries(api.t, () => send(amy, general, { content: 'counted' }));
    expect(result.statusCode).toBe(201);
    const writes = queries.filter((q) => /\b(INSERT|UPDATE|DELETE)\b/i.test(q) && /channel/.test(q));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/UPDATE "?channels"?[\s\S]*INSERT INTO "?channel_messages"?[\s\S]*INSERT INTO "?channel_read_states"?/);
    expect(queries.some((q) => /^\s*begin/i.test(q))).toBe(false);
    const state = await api.t.db.selectFrom('channel_read_states').select('last_read_seq').where('channel_id', '=', general).where('user_id', '=', amy.user.id).executeTakeFirstOrThrow();
    expect(state.last_read_seq).toBe(result.json().seq);

    // The statement's own guard: someone who is not a member of the group sends nothing.
    const seq = async () => (await api.t.db.selectFrom('channels').select('last_message_seq').where('id', '=', general).executeTakeFirstOrThrow()).last_message_seq;
    const at = await seq();
    const version = (await api.t.db.selectFrom('groups').select('access_version').where('id', '=', groupId).executeTakeFirstOrThrow()).access_version;
    const sneaky = (senderId: string, accessVersion: number) =>
      channelSendQuery(channelSendParams({ containerId: general, senderId, accessVersion, content: 'sneaky', type: 'text' })).execute(api.t.db);
    expect((await sneaky(out.user.id, version)).rows[0]).toMatchObject({ refused: null, id: null });
    // A member with an outdated access version: refused, nothing written.
    expect((await sneaky(amy.user.id, version - 1)).rows[0]).toMatchObject({ refused: true, id: null });
    expect(await seq()).toBe(at);
  });

  it('stores in channel_messages with a dense seq; nonce retries return the first message', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'seq' })).json().id;
    const first = await send(amy, channel, { content: ' hi ', nonce: 'n-1' });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ content: 'hi', seq: 1, sender: { id: amy.user.id }, reactions: [] });
    const again = await send(amy, channel, { content: 'hi (retry)', nonce: 'n-1' });
    expect(again.json().id).toBe(first.json().id);
    // Concurrent retries with one nonce still make one message.
    const racing = await Promise.all(Array.from({ length: 5 }, () => send(ben, channel, { content: 'race', nonce: 'n-2' })));
    expect(new Set(racing.map((r) => r.json().id)).size).toBe(1);
    const rows = await api.t.db.selectFrom('channel_messages').select(['seq']).where('channel_id', '=', channel).orderBy('seq').execute();
    expect(rows.map((r) => r.seq)).toEqual([1, 2]);
    expect((await send(amy, channel, { content: '   ' })).statusCode).toBe(422);
  });

  it('history pages newest first, before/after and cursors', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'history' })).json().id;
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push((await send(amy, channel, { content: `m${i}` })).json().id);
    const page1 = (await call(ben, 'GET', `/channels/${channel}/messages?limit=2`)).json();
    expect(page1.data.map((m: { content: string }) => m.content)).toEqual(['m5', 'm4']);
    const page2 = (await call(ben, 'GET', `/channels/${channel}/messages?limit=2&cursor=${page1.next_cursor}`)).json();
    expect(page2.data.map((m: { content: string }) => m.content)).toEqual(['m3', 'm2']);
    const after = (await call(ben, 'GET', `/channels/${channel}/messages?after=${ids[2]}`)).json();
    expect(after.data.map((m: { content: string }) => m.content)).toEqual(['m5', 'm4']);
  });

  it('replies, edits (author only), reactions, deletes (author or MANAGE_MESSAGES)', async () => {
    const root = (await send(amy, general, { content: 'question' })).json();
    const reply = await send(ben, general, { content: 'answer', reply_to_id: root.id });
    expect(reply.json().reply_to_id).toBe(root.id);
    const elsewhere = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'elsewhere' })).json().id;
    expect((await send(ben, elsewhere, { content: 'x', reply_to_id: root.id })).statusCode).toBe(422);

    expect((await call(ben, 'PATCH', `/channels/${general}/messages/${root.id}`, { content: 'hijack' })).statusCode).toBe(403);
    const edited = await call(amy, 'PATCH', `/channels/${general}/messages/${root.id}`, { content: 'question (edited)' });
    expect(edited.json()).toMatchObject({ content: 'question (edited)' });
    expect(edited.json().edited_at).not.toBeNull();

    const thumbs = encodeURIComponent('👍');
    expect((await call(ben, 'PUT', `/channels/${general}/messages/${root.id}/reactions/${thumbs}`)).statusCode).toBe(204);
    expect((await call(ben, 'PUT', `/channels/${general}/messages/${root.id}/reactions/${thumbs}`)).statusCode).toBe(204);
    const seen = (await call(amy, 'GET', `/channels/${general}/messages?limit=5`)).json().data.find((m: { id: string }) => m.id === root.id);
    expect(seen.reactions).toEqual([{ emoji: '👍', count: 1, me: false }]);
    expect((await call(ben, 'DELETE', `/channels/${general}/messages/${root.id}/reactions/${thumbs}`)).statusCode).toBe(204);

    expect((await call(ben, 'DELETE', `/channels/${general}/messages/${root.id}`)).statusCode).toBe(403);
    expect((await call(mod, 'DELETE', `/channels/${general}/messages/${root.id}`)).statusCode).toBe(204);
    const gone = (await call(amy, 'GET', `/channels/${general}/messages?limit=5`)).json().data.find((m: { id: string }) => m.id === root.id);
    expect(gone).toMatchObject({ deleted: true, content: '' });
    expect((await call(amy, 'DELETE', `/channels/${general}/messages/${reply.json().id}`)).statusCode).toBe(403);
    expect((await call(ben, 'DELETE', `/channels/${general}/messages/${reply.json().id}`)).statusCode).toBe(204);
  });

  it('READ_HISTORY, SEND_MESSAGES and ADD_REACTIONS are enforced (403 on a visible channel)', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'locked' })).json().id;
    const msg = (await send(owner, channel, { content: 'rules' })).json();
    await call(owner, 'PUT', `/channels/${channel}/permissions/${everyoneId}`, { allow: 0, deny: P.READ_HISTORY | P.SEND_MESSAGES | P.ADD_REACTIONS });
    const read = await call(amy, 'GET', `/channels/${channel}/messages`);
    expect(read.statusCode).toBe(403);
    expect(read.json().error.code).toBe('missing_permission');
    expect((await send(amy, channel, { content: 'no' })).statusCode).toBe(403);
    expect((await call(amy, 'PUT', `/channels/${channel}/messages/${msg.id}/reactions/${encodeURIComponent('👍')}`)).statusCode).toBe(403);
    expect((await call(out, 'GET', `/channels/${channel}/messages`)).statusCode).toBe(404);
  });

  it('voice channels carry no messages', async () => {
    const voice = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'talk', type: 'voice' })).json().id;
    const res = await send(amy, voice, { content: 'hello?' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('channel_not_text');
  });
});

describe('unread counts and read positions', () => {
  it('per member per channel; mark read (up to a message or the latest) never moves back', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'unread' })).json().id;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await send(amy, channel, { content: `u${i}` })).json().id);
    const unreadOf = async (u: User) =>
      (await call(u, 'GET', `/groups/${groupId}/channels`)).json().data.find((c: { id: string }) => c.id === channel).unread_count;
    expect(await unreadOf(ben)).toBe(3);
    expect(await unreadOf(amy)).toBe(0);
    const partial = await call(ben, 'POST', `/channels/${channel}/read`, { message_id: ids[1] });
    expect(partial.json()).toEqual({ last_read_seq: 2, unread_count: 1 });
    const back = await call(ben, 'POST', `/channels/${channel}/read`, { message_id: ids[0] });
    expect(back.json()).toEqual({ last_read_seq: 2, unread_count: 1 });
    expect((await call(ben, 'POST', `/channels/${channel}/read`, {})).json()).toEqual({ last_read_seq: 3, unread_count: 0 });
    expect(await unreadOf(ben)).toBe(0);
    expect(await unreadOf(mod)).toBe(3);
    expect((await call(out, 'POST', `/channels/${channel}/read`, {})).statusCode).toBe(404);
  });
});

describe('mentions', () => {
  it('@username notifies members who can see the channel, not outsiders or blockers', async () => {
    const cat = await api.register('cm_cat');
    const { invite_code } = (await call(owner, 'POST', `/groups/${groupId}/invite`)).json();
    await call(cat, 'POST', `/invites/${invite_code}`);
    await call(cat, 'POST', '/blocks', { username: 'cm_amy' });
    await send(amy, general, { content: '@cm_ben @cm_out @cm_cat look' });
    expect((await notificationsOf(ben.user.id)).filter((n) => n.type === 'mention')).toHaveLength(1);
    expect(await notificationsOf(out.user.id)).toHaveLength(0);
    expect(await notificationsOf(cat.user.id)).toHaveLength(0);
    const [mention] = (await notificationsOf(ben.user.id)).filter((n) => n.type === 'mention');
    expect(mention).toMatchObject({ actor_id: amy.user.id, data: { group_id: groupId, channel_id: general } });
  });

  it('@everyone pings every viewer only with MENTION_EVERYONE, through a job enqueued with the message', async () => {
    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'pings', is_private: true })).json().id;
    await call(owner, 'PUT', `/channels/${channel}/permissions/${everyoneId}`, { allow: P.VIEW_CHANNEL, deny: 0 });
    const before = async (u: User) => (await notificationsOf(u.user.id)).filter((n) => (n.data as { channel_id?: string }).channel_id === channel).length;
    // The job's queue exists once a worker has declared it; none runs yet: the message
    // commits with its job, which waits in the queue as it would across a crash.
    const stopped = await startWorker();
    await stopped.stop(1000);
    expect((await send(amy, channel, { content: 'hey @everyone' })).statusCode).toBe(201);
    const pinged = await send(mod, channel, { content: 'hey @everyone' });
    expect(pinged.statusCode).toBe(201);
    const jobs = await sql<{ data: { channel_id: string; message_id: string } }>`
      SELECT data FROM pgboss.job WHERE name = ${EVERYONE_MENTION_JOB} AND state = 'created'`.execute(api.t.db);
    // amy lacks MENTION_EVERYONE: plain text, no job.
    expect(jobs.rows.map((j) => j.data)).toEqual([{ channel_id: channel, message_id: pinged.json().id }]);
    expect(await before(ben)).toBe(0);

    const worker = await startWorker();
    try {
      await until(async () => (await before(ben)) === 1);
    } finally {
      await worker.stop(1000);
    }
    expect(await before(amy)).toBe(1);
    expect(await before(owner)).toBe(1);
    expect(await before(mod)).toBe(0);
    expect(await before(out)).toBe(0);
    // A retried job (the process died after its insert) adds nothing.
    await fanOutEveryoneMention(api.t.db, undefined, jobs.rows[0]!.data);
    expect(await before(ben)).toBe(1);
  });

  it('a reply notifies the author of the message replied to', async () => {
    const root = (await send(ben, general, { content: 'anyone?' })).json();
    await send(amy, general, { content: 'me', reply_to_id: root.id });
    const replies = (await notificationsOf(ben.user.id)).filter((n) => n.type === 'reply');
    expect(replies.at(-1)).toMatchObject({ actor_id: amy.user.id, data: { reply_to_id: root.id } });
  });
});

describe('attachments', () => {
  it('a file message claims uploads (ATTACH_FILES); readers of the channel can fetch them, others cannot', async () => {
    const upload = async (u: User) => {
      const { payload, headers } = multipartBody({ filename: 'pic.png', contentType: 'image/png', data: PNG });
      const res = await api.call({ method: 'POST', url: '/api/v1/attachments', token: u.token, payload, headers });
      expect(res.statusCode).toBe(201);
      return res.json<{ id: string }>().id;
    };
    const id = await upload(amy);
    const sent = await send(amy, general, { content: '', type: 'image', attachment_ids: [id] });
    expect(sent.statusCode).toBe(201);
    expect(sent.json().attachments).toMatchObject([{ id, content_type: 'image/png' }]);
    expect((await call(ben, 'GET', `/attachments/${id}`)).statusCode).toBe(200);
    expect((await call(out, 'GET', `/attachments/${id}`)).statusCode).toBe(404);

    const channel = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'no-files' })).json().id;
    await call(owner, 'PUT', `/channels/${channel}/permissions/${everyoneId}`, { allow: 0, deny: P.ATTACH_FILES });
    const denied = await send(amy, channel, { content: '', type: 'image', attachment_ids: [await upload(amy)] });
    expect(denied.statusCode).toBe(403);
  });
});
