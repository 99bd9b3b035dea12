// Roles (CRUD, hierarchy, grants), channels and categories (CRUD, reorder), overwrites.
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { Permission as P } from './permissions.ts';

const api = useTestApp();
type User = Awaited<ReturnType<typeof api.register>>;
const call = (as: User, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  api.call({ method, url: `/api/v1${url}`, token: as.token, ...(payload === undefined ? {} : { payload }) });

async function setup(prefix: string) {
  const owner = await api.register(`${prefix}_own`);
  const manager = await api.register(`${prefix}_mgr`);
  const member = await api.register(`${prefix}_mem`);
  const groupId = (await call(owner, 'POST', '/groups', { name: prefix })).json().id as string;
  const { invite_code } = (await call(owner, 'POST', `/groups/${groupId}/invite`)).json();
  await call(manager, 'POST', `/invites/${invite_code}`);
  await call(member, 'POST', `/invites/${invite_code}`);
  const managerRole = (
    await call(owner, 'POST', `/groups/${groupId}/roles`, {
      name: 'manager',
      position: 10,
      color: '#AABBCC',
      permissions: P.MANAGE_ROLES | P.MANAGE_CHANNELS | P.KICK_MEMBERS | P.VIEW_CHANNEL | P.SEND_MESSAGES,
    })
  ).json();
  expect(managerRole).toMatchObject({ name: 'manager', position: 10, color: '#aabbcc', is_default: false });
  await call(owner, 'PATCH', `/groups/${groupId}/members/${manager.user.id}`, { role_ids: [managerRole.id] });
  const roles = (await call(owner, 'GET', `/groups/${groupId}/roles`)).json().data as Array<{ id: string; is_default: boolean }>;
  const everyoneId = roles.find((r) => r.is_default)!.id;
  return { owner, manager, member, groupId, managerRoleId: managerRole.id as string, everyoneId };
}

describe('roles', () => {
  it('create, list highest first, edit and delete below one’s own rank', async () => {
    const { manager, member, groupId, managerRoleId } = await setup('rl1');
    const low = await call(manager, 'POST', `/groups/${groupId}/roles`, { name: 'helper', position: 3, permissions: P.KICK_MEMBERS });
    expect(low.statusCode).toBe(201);
    const list = (await call(member, 'GET', `/groups/${groupId}/roles`)).json().data.map((r: { name: string }) => r.name);
    expect(list).toEqual(['manager', 'helper', '@everyone']);

    const same = await call(manager, 'POST', `/groups/${groupId}/roles`, { name: 'peer', position: 10 });
    expect(same.statusCode).toBe(403);
    expect(same.json().error.code).toBe('role_hierarchy');
    // Nobody edits their own highest role (it is not below them).
    expect((await call(manager, 'PATCH', `/groups/${groupId}/roles/${managerRoleId}`, { name: 'boss' })).statusCode).toBe(403);
    expect((await call(manager, 'PATCH', `/groups/${groupId}/roles/${low.json().id}`, { position: 11 })).statusCode).toBe(403);
    const renamed = await call(manager, 'PATCH', `/groups/${groupId}/roles/${low.json().id}`, { name: 'helper2', color: null });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'helper2', color: null });
    expect((await call(member, 'DELETE', `/groups/${groupId}/roles/${low.json().id}`)).statusCode).toBe(403);
    expect((await call(manager, 'DELETE', `/groups/${groupId}/roles/${low.json().id}`)).statusCode).toBe(204);
    expect((await call(manager, 'DELETE', `/groups/${groupId}/roles/${low.json().id}`)).statusCode).toBe(404);
  });

  it('nobody grants bits they lack; bad bitfields and colors are 422', async () => {
    const { manager, groupId } = await setup('rl2');
    const grant = await call(manager, 'POST', `/groups/${groupId}/roles`, { name: 'x', position: 1, permissions: P.BAN_MEMBERS });
    expect(grant.statusCode).toBe(403);
    expect(grant.json().error.code).toBe('missing_permission');
    expect((await call(manager, 'POST', `/groups/${groupId}/roles`, { name: 'x', permissions: 65536 })).statusCode).toBe(422);
    expect((await call(manager, 'POST', `/groups/${groupId}/roles`, { name: 'x', permissions: 1.5 })).statusCode).toBe(422);
    expect((await call(manager, 'POST', `/groups/${groupId}/roles`, { name: 'x', color: 'red' })).statusCode).toBe(422);
    expect((await call(manager, 'POST', `/groups/${groupId}/roles`, { name: 'x', position: 0 })).statusCode).toBe(422);
  });

  it('@everyone: permissions editable, name and position fixed, not deletable', async () => {
    const { owner, groupId, everyoneId } = await setup('rl3');
    const ok = await call(owner, 'PATCH', `/groups/${groupId}/roles/${everyoneId}`, { permissions: P.VIEW_CHANNEL | P.READ_HISTORY });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().permissions).toBe(P.VIEW_CHANNEL | P.READ_HISTORY);
    expect((await call(owner, 'PATCH', `/groups/${groupId}/roles/${everyoneId}`, { name: 'all' })).json().error.code).toBe('default_role');
    expect((await call(owner, 'DELETE', `/groups/${groupId}/roles/${everyoneId}`)).statusCode).toBe(422);
  });

  it('assignment: only roles below one’s own, of this group, never @everyone', async () => {
    const { owner, manager, member, groupId, managerRoleId, everyoneId } = await setup('rl4');
    const helper = (await call(owner, 'POST', `/groups/${groupId}/roles`, { name: 'helper', position: 2 })).json();
    const res = await call(manager, 'PATCH', `/groups/${groupId}/members/${member.user.id}`, { role_ids: [helper.id] });
    expect(res.statusCode).toBe(200);
    expect(res.json().role_ids).toEqual([helper.id]);
    const up = await call(manager, 'PATCH', `/groups/${groupId}/members/${member.user.id}`, { role_ids: [helper.id, managerRoleId] });
    expect(up.statusCode).toBe(403);
    expect(up.json().error.code).toBe('role_hierarchy');
    expect((await call(manager, 'PATCH', `/groups/${groupId}/members/${member.user.id}`, { role_ids: [everyoneId] })).statusCode).toBe(422);
    const other = (await call(owner, 'POST', '/groups', { name: 'other' })).json();
    const foreign = (await call(owner, 'GET', `/groups/${other.id}/roles`)).json().data[0].id;
    expect((await call(manager, 'PATCH', `/groups/${groupId}/members/${member.user.id}`, { role_ids: [foreign] })).statusCode).toBe(422);
    // Cannot strip a role at or above one's own from someone else either.
    const peerRoleRemoval = await call(manager, 'PATCH', `/groups/${groupId}/members/${manager.user.id}`, { role_ids: [] });
    expect(peerRoleRemoval.statusCode).toBe(403);
    // Deleting a role unassigns it.
    await call(owner, 'DELETE', `/groups/${groupId}/roles/${helper.id}`);
    const members = (await call(owner, 'GET', `/groups/${groupId}/members`)).json().data;
    expect(members.find((m: { user: { id: string } }) => m.user.id === member.user.id).role_ids).toEqual([]);
  });
});

describe('channels and categories', () => {
  it('create with category, edit, reorder, delete; positions and types validated', async () => {
    const { manager, member, groupId } = await setup('ch1');
    const cat = await call(manager, 'POST', `/groups/${groupId}/categories`, { name: 'Talk' });
    expect(cat.statusCode).toBe(201);
    const voice = await call(manager, 'POST', `/groups/${groupId}/channels`, { name: 'Lounge', type: 'voice', category_id: cat.json().id, topic: 'chill' });
    expect(voice.statusCode).toBe(201);
    expect(voice.json()).toMatchObject({ name: 'Lounge', type: 'voice', category_id: cat.json().id, topic: 'chill', position: 1 });
    expect((await call(manager, 'POST', `/groups/${groupId}/channels`, { name: 'x', type: 'video' })).statusCode).toBe(422);
    expect((await call(member, 'POST', `/groups/${groupId}/channels`, { name: 'x' })).statusCode).toBe(403);
    const other = (await call(manager, 'POST', '/groups', { name: 'other' })).json();
    const foreignCat = (await call(manager, 'POST', `/groups/${other.id}/categories`, { name: 'F' })).json();
    const bad = await call(manager, 'POST', `/groups/${groupId}/channels`, { name: 'x', category_id: foreignCat.id });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.fields).toHaveProperty('category_id');

    const channels = (await call(member, 'GET', `/groups/${groupId}/channels`)).json().data;
    const [general, lounge] = channels as Array<{ id: string }>;
    const reordered = await call(manager, 'PATCH', `/groups/${groupId}/channels`, {
      channels: [
        { id: general!.id, position: 5, category_id: cat.json().id },
        { id: lounge!.id, position: 0, category_id: null },
      ],
    });
    expect(reordered.statusCode).toBe(200);
    expect(reordered.json().data.map((c: { id: string; category_id: string | null }) => [c.id, c.category_id])).toEqual([
      [lounge!.id, null],
      [general!.id, cat.json().id],
    ]);
    const stranger = await call(manager, 'PATCH', `/groups/${groupId}/channels`, { channels: [{ id: foreignCat.id, position: 1 }] });
    expect(stranger.statusCode).toBe(422);

    const edited = await call(manager, 'PATCH', `/channels/${lounge!.id}`, { name: 'Lounge 2', topic: null });
    expect(edited.json()).toMatchObject({ name: 'Lounge 2', topic: null });
    expect((await call(member, 'PATCH', `/channels/${lounge!.id}`, { name: 'mine' })).statusCode).toBe(403);
    expect((await call(manager, 'DELETE', `/groups/${groupId}/categories/${cat.json().id}`)).statusCode).toBe(204);
    expect((await call(member, 'GET', `/channels/${general!.id}`)).json().category_id).toBeNull();
    expect((await call(manager, 'DELETE', `/channels/${lounge!.id}`)).statusCode).toBe(204);
    expect((await call(member, 'GET', `/channels/${lounge!.id}`)).statusCode).toBe(404);
  });

  it('overwrites: validated, hierarchy-bound, visible to MANAGE_ROLES holders; private channels', async () => {
    const { owner, manager, member, groupId, managerRoleId, everyoneId } = await setup('ch2');
    const secret = (await call(owner, 'POST', `/groups/${groupId}/channels`, { name: 'secret', is_private: true })).json();
    // The manager cannot see it, so it does not exist for them.
    expect((await call(manager, 'PUT', `/channels/${secret.id}/permissions/${everyoneId}`, { allow: 1, deny: 0 })).statusCode).toBe(404);
    const general = (await call(owner, 'GET', `/groups/${groupId}/channels`)).json().data[0].id;
    expect((await call(manager, 'PUT', `/channels/${general}/permissions/${everyoneId}`, { allow: 1, deny: 1 })).statusCode).toBe(422);
    expect((await call(manager, 'PUT', `/channels/${general}/permissions/${managerRoleId}`, { allow: 0, deny: 2 })).statusCode).toBe(403);
    expect((await call(manager, 'PUT', `/channels/${general}/permissions/${everyoneId}`, { allow: 0, deny: P.BAN_MEMBERS })).statusCode).toBe(403);
    const set = await call(manager, 'PUT', `/channels/${general}/permissions/${everyoneId}`, { allow: 0, deny: P.SEND_MESSAGES });
    expect(set.statusCode).toBe(200);
    expect((await call(manager, 'GET', `/channels/${general}`)).json().overwrites).toEqual([{ role_id: everyoneId, allow: 0, deny: P.SEND_MESSAGES }]);
    expect((await call(member, 'GET', `/channels/${general}`)).json()).not.toHaveProperty('overwrites');
    // Opening the private channel to the manager's role.
    await call(owner, 'PUT', `/channels/${secret.id}/permissions/${managerRoleId}`, { allow: P.VIEW_CHANNEL, deny: 0 });
    expect((await call(manager, 'GET', `/channels/${secret.id}`)).statusCode).toBe(200);
    expect((await call(member, 'GET', `/channels/${secret.id}`)).statusCode).toBe(404);
    expect((await call(owner, 'DELETE', `/channels/${secret.id}/permissions/${managerRoleId}`)).statusCode).toBe(204);
    expect((await call(manager, 'GET', `/channels/${secret.id}`)).statusCode).toBe(404);
    expect((await call(owner, 'DELETE', `/channels/${secret.id}/permissions/${managerRoleId}`)).statusCode).toBe(404);
  });
});
