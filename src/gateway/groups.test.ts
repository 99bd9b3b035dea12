// Channel and group rooms follow the groups module's rights: members hear channel
// messages; a private channel opens with a role granted through an overwrite and closes
// when the role is taken away; kicked and banned members stop hearing at once.
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../test/app-harness.ts';
import { listen, settle, TestClient } from './testing.ts';

const api = useTestApp({ GATEWAY_FANOUT: 'in-process' });

let url = '';
const connect = async (token: string) => {
  url ||= await listen(api.app);
  const client = await TestClient.open(url);
  await client.identify(token);
  return client;
};

async function ok<T>(
  res: Promise<{ statusCode: number; body: string; json<J>(): J }>,
  status = [200, 201, 204],
): Promise<T> {
  const r = await res;
  if (!status.includes(r.statusCode)) throw new Error(`${r.statusCode} ${r.body}`);
  return (r.body ? r.json<T>() : undefined) as T;
}

const list = <T>(body: T[] | { data: T[] }): T[] => (Array.isArray(body) ? body : body.data);

describe('channel rooms', () => {
  it('deliver to those who may view the channel, and stop when the right goes', async () => {
    const owner = await api.register('gr_owner');
    const b = await api.register('gr_b');
    const c = await api.register('gr_c');
    const group = await ok<{ id: string }>(
      api.call({
        method: 'POST',
        url: '/api/v1/groups',
        token: owner.token,
        payload: { name: 'Gateway group' },
      }),
    );
    const channels = list(
      await ok<Array<{ id: string; name: string }> | { data: Array<{ id: string; name: string }> }>(
        api.call({ method: 'GET', url: `/api/v1/groups/${group.id}/channels`, token: owner.token }),
      ),
    );
    const general = channels.find((ch) => ch.name === 'general')!.id;
    const { invite_code } = await ok<{ invite_code: string }>(
      api.call({ method: 'POST', url: `/api/v1/groups/${group.id}/invite`, token: owner.token }),
    );
    for (const u of [b, c])
      await ok(api.call({ method: 'POST', url: `/api/v1/invites/${invite_code}`, token: u.token }));
    const secret = await ok<{ id: string }>(
      api.call({
        method: 'POST',
        url: `/api/v1/groups/${group.id}/channels`,
        token: owner.token,
        payload: { name: 'secret', type: 'text', is_private: true },
      }),
    );
    const role = await ok<{ id: string }>(
      api.call({
        method: 'POST',
        url: `/api/v1/groups/${group.id}/roles`,
        token: owner.token,
        payload: { name: 'insider', color: '#00ff00', permissions: 0 },
      }),
    );
    await ok(
      api.call({
        method: 'PUT',
        url: `/api/v1/channels/${secret.id}/permissions/${role.id}`,
        token: owner.token,
        payload: { allow: 1, deny: 0 },
      }),
    );

    const [cb, cc] = [await connect(b.token), await connect(c.token)];
    expect(cb.frames.find((f) => f.op === 'ready')?.rooms).toEqual(
      expect.arrayContaining([`group:${group.id}`, `channel:${general}`]),
    );
    expect(cb.frames.find((f) => f.op === 'ready')?.rooms).not.toContain(`channel:${secret.id}`);

    const post = async (channelId: string, content: string) =>
      (
        await ok<{ id: string }>(
          api.call({
            method: 'POST',
            url: `/api/v1/channels/${channelId}/messages`,
            token: owner.token,
            payload: { content },
          }),
        )
      ).id;

    const hello = await post(general, 'hello channel');
    const seen = await cb.event('message.created', (f) => f.data?.id === hello);
    expect(seen).toMatchObject({
      room: `channel:${general}`,
      data: { channel_id: general, content: 'hello channel' },
    });
    await cc.event('message.created', (f) => f.data?.id === hello);

    const hidden = await post(secret.id, 'not for b yet');
    // Granting the role opens the private channel without reconnecting.
    await ok(
      api.call({
        method: 'PATCH',
        url: `/api/v1/groups/${group.id}/members/${b.user.id}`,
        token: owner.token,
        payload: { role_ids: [role.id] },
      }),
    );
    await expect.poll(() => api.app.gateway.roomsOf(b.user.id).includes(`channel:${secret.id}`)).toBe(true);
    const shown = await post(secret.id, 'now b may read');
    await cb.event('message.created', (f) => f.data?.id === shown);
    expect(cb.events('message.created').map((f) => f.data?.id)).not.toContain(hidden);
    expect(cc.events('message.created').map((f) => f.data?.id)).not.toContain(shown);

    // Taking the role away closes it again.
    await ok(
      api.call({
        method: 'PATCH',
        url: `/api/v1/groups/${group.id}/members/${b.user.id}`,
        token: owner.token,
        payload: { role_ids: [] },
      }),
    );
    await expect.poll(() => api.app.gateway.roomsOf(b.user.id).includes(`channel:${secret.id}`)).toBe(false);
    const after = await post(secret.id, 'b is out again');

    // Kick C, ban B: both stop hearing general at once.
    await ok(
      api.call({
        method: 'DELETE',
        url: `/api/v1/groups/${group.id}/members/${c.user.id}`,
        token: owner.token,
      }),
    );
    expect((await cc.event('member.left')).data).toMatchObject({
      group_id: group.id,
      user_id: c.user.id,
      reason: 'kicked',
    });
    await ok(
      api.call({ method: 'POST', url: `/api/v1/groups/${group.id}/bans/${b.user.id}`, token: owner.token }),
    );
    await cb.event('member.left', (f) => f.data?.user_id === b.user.id);
    const last = await post(general, 'after kick and ban');
    await api.app.gateway.drain();
    await settle();
    expect(cb.events('message.created').map((f) => f.data?.id)).not.toContain(after);
    expect(cb.events('message.created').map((f) => f.data?.id)).not.toContain(last);
    expect(cc.events('message.created').map((f) => f.data?.id)).not.toContain(last);
  });
});
