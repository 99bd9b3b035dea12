// The permission matrix, table-driven, on the pure functions (the loaders and routes are
// tested against the same rules in access.test.ts).
import { describe, expect, it } from 'vitest';
import {
  ALL_PERMISSIONS,
  DEFAULT_EVERYONE_PERMISSIONS,
  Permission as P,
  basePermissions,
  canGrant,
  canManageRoleAt,
  channelPermissions,
  has,
  highestPosition,
  outranks,
  type ChannelFacts,
  type MemberContext,
  type Overwrite,
} from './permissions.ts';

const everyone = { id: 'everyone', position: 0, permissions: DEFAULT_EVERYONE_PERMISSIONS };
const adminRole = { id: 'admin', position: 5, permissions: P.ADMINISTRATOR };
const modRole = {
  id: 'mod',
  position: 3,
  permissions: P.MANAGE_MESSAGES | P.KICK_MEMBERS | P.BAN_MEMBERS | P.MANAGE_CHANNELS | P.MENTION_EVERYONE | P.MANAGE_ROLES,
};
const mutedRole = { id: 'muted', position: 1, permissions: 0 };

const ctx = (userId: string, memberId: string | null, roles: MemberContext['roles'] = []): MemberContext => ({
  userId,
  groupId: 'g',
  ownerId: 'owner',
  memberId,
  everyone,
  roles,
});

const who = {
  owner: ctx('owner', 'm-owner'),
  admin: ctx('admin', 'm-admin', [adminRole]),
  moderator: ctx('moderator', 'm-mod', [modRole]),
  member: ctx('member', 'm-member'),
  muted: ctx('muted', 'm-muted', [mutedRole]),
  // A user who is not (or no longer) a member: outsiders and banned users look the same.
  outsider: ctx('outsider', null),
  banned: ctx('banned', null),
} as const;
type Who = keyof typeof who;

const text: ChannelFacts = { id: 'c-text', type: 'text', is_private: false };
const privateChannel: ChannelFacts = { id: 'c-private', type: 'text', is_private: true };
const announcement: ChannelFacts = { id: 'c-news', type: 'announcement', is_private: false };
const overwrites: Record<string, Overwrite[]> = {
  'c-text': [{ role_id: 'muted', allow: 0, deny: P.SEND_MESSAGES | P.ADD_REACTIONS }],
  // Private, opened to moderators only.
  'c-private': [{ role_id: 'mod', allow: P.VIEW_CHANNEL, deny: 0 }],
  'c-news': [],
};

type Action = 'view' | 'read' | 'send' | 'react' | 'mention_everyone' | 'manage_messages';
const bit: Record<Action, number> = {
  view: P.VIEW_CHANNEL,
  read: P.READ_HISTORY,
  send: P.SEND_MESSAGES,
  react: P.ADD_REACTIONS,
  mention_everyone: P.MENTION_EVERYONE,
  manage_messages: P.MANAGE_MESSAGES,
};

// [who, channel, action, allowed]
const matrix: Array<[Who, ChannelFacts, Action[], Action[]]> = [
  // who, channel, allowed actions, refused actions
  ['owner', text, ['view', 'read', 'send', 'react', 'mention_everyone', 'manage_messages'], []],
  ['owner', privateChannel, ['view', 'read', 'send', 'mention_everyone', 'manage_messages'], []],
  ['owner', announcement, ['view', 'send', 'manage_messages'], []],
  ['admin', text, ['view', 'read', 'send', 'react', 'mention_everyone', 'manage_messages'], []],
  ['admin', privateChannel, ['view', 'read', 'send', 'manage_messages'], []],
  ['admin', announcement, ['view', 'send'], []],
  ['moderator', text, ['view', 'read', 'send', 'react', 'mention_everyone', 'manage_messages'], []],
  ['moderator', privateChannel, ['view', 'read', 'send', 'manage_messages'], []],
  ['moderator', announcement, ['view', 'read', 'send', 'manage_messages'], []],
  ['member', text, ['view', 'read', 'send', 'react'], ['mention_everyone', 'manage_messages']],
  ['member', privateChannel, [], ['view', 'read', 'send', 'react', 'mention_everyone', 'manage_messages']],
  ['member', announcement, ['view', 'read', 'react'], ['send', 'mention_everyone', 'manage_messages']],
  ['muted', text, ['view', 'read'], ['send', 'react', 'mention_everyone', 'manage_messages']],
  ['muted', privateChannel, [], ['view', 'read', 'send']],
  ['outsider', text, [], ['view', 'read', 'send', 'react', 'mention_everyone', 'manage_messages']],
  ['outsider', privateChannel, [], ['view', 'read', 'send']],
  ['outsider', announcement, [], ['view', 'read', 'send']],
  ['banned', text, [], ['view', 'read', 'send', 'react', 'mention_everyone', 'manage_messages']],
  ['banned', privateChannel, [], ['view', 'read', 'send']],
];

describe('channelPermissions: the matrix', () => {
  for (const [name, channel, allowed, refused] of matrix) {
    for (const action of allowed) {
      it(`${name} may ${action} in ${channel.id}`, () => {
        expect(has(channelPermissions(who[name], channel, overwrites[channel.id]!), bit[action])).toBe(true);
      });
    }
    for (const action of refused) {
      it(`${name} may not ${action} in ${channel.id}`, () => {
        expect(has(channelPermissions(who[name], channel, overwrites[channel.id]!), bit[action])).toBe(false);
      });
    }
  }
});

describe('group-level actions: the matrix', () => {
  // [who, action bit, allowed]
  const rows: Array<[Who, keyof typeof P, boolean]> = [
    ['owner', 'MANAGE_GROUP', true],
    ['owner', 'BAN_MEMBERS', true],
    ['admin', 'MANAGE_GROUP', true],
    ['admin', 'MANAGE_ROLES', true],
    ['moderator', 'KICK_MEMBERS', true],
    ['moderator', 'BAN_MEMBERS', true],
    ['moderator', 'MANAGE_GROUP', false],
    ['member', 'CREATE_INVITE', true],
    ['member', 'KICK_MEMBERS', false],
    ['member', 'MANAGE_CHANNELS', false],
    ['outsider', 'CREATE_INVITE', false],
    ['banned', 'CREATE_INVITE', false],
  ];
  for (const [name, permission, allowed] of rows) {
    it(`${name} ${allowed ? 'has' : 'lacks'} ${permission}`, () => {
      expect(has(basePermissions(who[name]), P[permission])).toBe(allowed);
    });
  }

  it('owner and administrators hold every bit; outsiders none', () => {
    expect(basePermissions(who.owner)).toBe(ALL_PERMISSIONS);
    expect(basePermissions(who.admin)).toBe(ALL_PERMISSIONS);
    expect(basePermissions(who.outsider)).toBe(0);
  });
});

describe('overwrites', () => {
  const member = (roles: MemberContext['roles']) => ctx('x', 'm-x', roles);
  const a = { id: 'a', position: 1, permissions: 0 };
  const b = { id: 'b', position: 2, permissions: 0 };

  it('the @everyone overwrite applies before role overwrites: deny, then allow', () => {
    const o: Overwrite[] = [
      { role_id: 'everyone', allow: 0, deny: P.SEND_MESSAGES },
      { role_id: 'a', allow: P.SEND_MESSAGES, deny: 0 },
    ];
    expect(has(channelPermissions(member([]), text, o), P.SEND_MESSAGES)).toBe(false);
    expect(has(channelPermissions(member([a]), text, o), P.SEND_MESSAGES)).toBe(true);
  });

  it("an allow on any of the member's roles beats a deny on another", () => {
    const o: Overwrite[] = [
      { role_id: 'a', allow: 0, deny: P.READ_HISTORY },
      { role_id: 'b', allow: P.READ_HISTORY, deny: 0 },
    ];
    expect(has(channelPermissions(member([a]), text, o), P.READ_HISTORY)).toBe(false);
    expect(has(channelPermissions(member([a, b]), text, o), P.READ_HISTORY)).toBe(true);
  });

  it('overwrites of roles the member lacks do nothing; an @everyone allow opens a private channel', () => {
    const closed = channelPermissions(member([]), privateChannel, [{ role_id: 'b', allow: P.VIEW_CHANNEL, deny: 0 }]);
    expect(has(closed, P.VIEW_CHANNEL)).toBe(false);
    expect(has(closed, P.SEND_MESSAGES)).toBe(false);
    const open = channelPermissions(member([]), privateChannel, [{ role_id: 'everyone', allow: P.VIEW_CHANNEL, deny: 0 }]);
    expect(has(open, P.VIEW_CHANNEL | P.SEND_MESSAGES)).toBe(true);
  });

  it('without VIEW_CHANNEL no channel bit survives, group bits do', () => {
    const moderator = ctx('m', 'm-m', [modRole]);
    const p = channelPermissions(moderator, text, [{ role_id: 'mod', allow: 0, deny: P.VIEW_CHANNEL }]);
    expect(has(p, P.MANAGE_MESSAGES)).toBe(false);
    expect(has(p, P.SEND_MESSAGES)).toBe(false);
    expect(has(p, P.KICK_MEMBERS)).toBe(true);
  });

  it('owner and administrators bypass every overwrite', () => {
    const denyAll: Overwrite[] = [
      { role_id: 'everyone', allow: 0, deny: ALL_PERMISSIONS },
      { role_id: 'admin', allow: 0, deny: ALL_PERMISSIONS },
    ];
    expect(channelPermissions(who.owner, privateChannel, denyAll)).toBe(ALL_PERMISSIONS);
    expect(channelPermissions(who.admin, privateChannel, denyAll)).toBe(ALL_PERMISSIONS);
  });
});

describe('hierarchy', () => {
  it('ranks: owner above all, then by highest role; @everyone is 0; outsiders below', () => {
    expect(highestPosition(who.owner)).toBe(Number.POSITIVE_INFINITY);
    expect(highestPosition(who.admin)).toBe(5);
    expect(highestPosition(who.moderator)).toBe(3);
    expect(highestPosition(who.member)).toBe(0);
    expect(highestPosition(who.outsider)).toBe(-1);
  });

  it('roles: only strictly below one’s highest', () => {
    expect(canManageRoleAt(who.moderator, 2)).toBe(true);
    expect(canManageRoleAt(who.moderator, 3)).toBe(false);
    expect(canManageRoleAt(who.moderator, 5)).toBe(false);
    expect(canManageRoleAt(who.member, 0)).toBe(false);
    expect(canManageRoleAt(who.owner, 1_000_000)).toBe(true);
  });

  it('members: nobody acts on the owner or on an equal or higher rank', () => {
    const otherMod = ctx('mod2', 'm-mod2', [modRole]);
    expect(outranks(who.moderator, who.member)).toBe(true);
    expect(outranks(who.moderator, otherMod)).toBe(false);
    expect(outranks(who.moderator, who.admin)).toBe(false);
    expect(outranks(who.admin, who.moderator)).toBe(true);
    expect(outranks(who.admin, who.owner)).toBe(false);
    expect(outranks(who.owner, who.admin)).toBe(true);
    expect(outranks(who.member, who.muted)).toBe(false);
  });

  it('grants: only bits one holds, unless owner or administrator', () => {
    expect(canGrant(who.moderator, P.KICK_MEMBERS | P.SEND_MESSAGES)).toBe(true);
    expect(canGrant(who.moderator, P.MANAGE_GROUP)).toBe(false);
    expect(canGrant(who.moderator, P.ADMINISTRATOR)).toBe(false);
    expect(canGrant(who.admin, P.ADMINISTRATOR)).toBe(true);
  });
});
