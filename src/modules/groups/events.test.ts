// The domain events groups publish (after commit), as the gateway will see them.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import type { DomainEvent, EventBus } from '../../events/bus.ts';
import { sendChannelMessage } from './channel-messages.ts';
import { createChannel, putOverwrite } from './channels.ts';
import { createGroup, deleteGroup } from './groups.ts';
import { createInvite, joinByInvite } from './invites.ts';
import { banMember, removeMember, updateMember } from './members.ts';
import { Permission } from './permissions.ts';
import { createRole } from './roles.ts';

const t = useTestDatabase();

function recordingBus(): EventBus & { seen: DomainEvent[] } {
  const seen: DomainEvent[] = [];
  return { seen, publish: (event) => void seen.push(event), subscribe: () => () => undefined, close: async () => undefined };
}

async function user(name: string) {
  const row = await t.db
    .insertInto('users')
    .values({ username: name, email: `${name}@example.com`, password_hash: 'x' })
    .returning(['id', 'username', 'display_name', 'avatar_url'])
    .executeTakeFirstOrThrow();
  return row;
}

describe('group events', () => {
  it('joins, role changes, kicks, bans, channels, messages and deletion are announced', async () => {
    const bus = recordingBus();
    const owner = await user('ev_owner');
    const amy = await user('ev_amy');
    const ben = await user('ev_ben');
    const group = await createGroup(t.db, bus, owner.id, { name: 'Events' });
    expect(bus.seen).toEqual([{ type: 'member.joined', groupId: group.id, userId: owner.id }]);

    const { invite_code } = await createInvite(t.db, owner.id, group.id, {});
    await joinByInvite(t.db, bus, amy.id, invite_code);
    await joinByInvite(t.db, bus, amy.id, invite_code); // already a member: no second event
    await joinByInvite(t.db, bus, ben.id, invite_code);
    const role = await createRole(t.db, bus, owner.id, group.id, { name: 'helper', permissions: Permission.SEND_MESSAGES });
    await updateMember(t.db, bus, owner.id, group.id, amy.id, { role_ids: [role.id] });
    const channel = await createChannel(t.db, bus, owner.id, group.id, { name: 'news' });
    await putOverwrite(t.db, bus, owner.id, channel.id, role.id, { allow: Permission.ADD_REACTIONS, deny: 0 });
    const message = await sendChannelMessage(t.db, bus, { ...amy }, channel.id, { content: 'hello' });
    await removeMember(t.db, bus, owner.id, group.id, amy.id);
    await banMember(t.db, bus, owner.id, group.id, ben.id, 'spam');
    await deleteGroup(t.db, bus, owner.id, group.id);

    expect(bus.seen.slice(1)).toEqual([
      { type: 'member.joined', groupId: group.id, userId: amy.id },
      { type: 'member.joined', groupId: group.id, userId: ben.id },
      { type: 'role.updated', groupId: group.id, roleId: role.id, change: 'created' },
      { type: 'member.updated', groupId: group.id, userId: amy.id },
      { type: 'channel.updated', groupId: group.id, channelId: channel.id, change: 'created' },
      { type: 'channel.updated', groupId: group.id, channelId: channel.id, change: 'updated' },
      { type: 'message.created', location: 'channel', containerId: channel.id, messageId: message.id, senderId: amy.id },
      { type: 'member.left', groupId: group.id, userId: amy.id, reason: 'kicked' },
      { type: 'member.left', groupId: group.id, userId: ben.id, reason: 'banned' },
      { type: 'group.deleted', groupId: group.id },
    ]);
  });

  it('nothing is announced for work that rolled back', async () => {
    const bus = recordingBus();
    const owner = await user('ev_owner2');
    const cy = await user('ev_cy');
    const group = await createGroup(t.db, bus, owner.id, { name: 'Rollback' });
    const { invite_code } = await createInvite(t.db, owner.id, group.id, { max_uses: 1 });
    await t.db.updateTable('group_invites').set({ uses: 1 }).where('code', '=', invite_code).execute();
    bus.seen.length = 0;
    await expect(joinByInvite(t.db, bus, cy.id, invite_code)).rejects.toMatchObject({ code: 'invite_invalid' });
    expect(bus.seen).toEqual([]);
    // The membership inserted before the use was refused went with the rollback.
    const members = await t.db.selectFrom('group_members').select('user_id').where('group_id', '=', group.id).execute();
    expect(members.map((m) => m.user_id)).toEqual([owner.id]);
  });
});
