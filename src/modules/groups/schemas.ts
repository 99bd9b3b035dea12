// Request and response shapes of the groups API (they also feed the OpenAPI document).
// Bounds here keep hostile input cheap; the services apply the real rules with field
// errors (trimmed names, known permission bits, positions).
import { z } from 'zod';
import { cursorQuery, isoDate, uuid } from '../../http/schemas.ts';
import { ALL_PERMISSIONS, Permission } from './permissions.ts';

const bits = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32)
  .describe(
    `permission bitfield: ${Object.entries(Permission)
      .map(([name, bit]) => `${name} ${bit}`)
      .join(', ')} (at most ${ALL_PERMISSIONS})`,
  );

export const groupParams = z.object({ id: uuid });
export const memberParams = z.object({ id: uuid, user_id: uuid });
export const roleParams = z.object({ id: uuid, role_id: uuid });
export const categoryParams = z.object({ id: uuid, category_id: uuid });
export const channelParams = z.object({ id: uuid });
export const overwriteParams = z.object({ id: uuid, role_id: uuid });
export const inviteParams = z.object({ code: z.string().max(64) });
export const groupInviteParams = z.object({ id: uuid, code: z.string().max(64) });

export const group = z
  .object({
    id: uuid,
    name: z.string(),
    description: z.string().nullable(),
    icon_url: z.string().nullable(),
    is_public: z.boolean(),
    owner_id: uuid,
    member_count: z.number().int(),
    member: z.boolean().describe('whether the caller is a member'),
    permissions: z.number().int().describe("the caller's group-level permission bits"),
    invite_code: z.string().nullable().describe('the default invite; shown to members who may create invites'),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'Group' });

export const groupList = z.object({ data: z.array(group), next_cursor: z.string().nullable() });

export const createGroupBody = z.object({
  name: z.string().max(1000).describe('1 to 100 characters once trimmed'),
  description: z.string().max(10_000).nullish().describe('at most 1000 characters'),
  icon_url: z.string().max(10_000).nullish().describe('an http(s) URL'),
  is_public: z.boolean().optional().describe('listed in /groups/discover (default false)'),
});

export const updateGroupBody = createGroupBody.partial();

export const transferBody = z.object({ user_id: uuid.describe('a member of the group') });

export const createInviteBody = z
  .object({
    max_uses: z.number().int().min(-1).max(10_000_000).nullish().describe('1 to 100 000; absent: unlimited'),
    expires_in_seconds: z.number().int().min(-1).max(1_000_000_000).nullish().describe('60 to 2 592 000 (30 days); absent: never'),
  })
  .nullish();

export const invite = z
  .object({
    invite_code: z.string(),
    group_id: uuid,
    max_uses: z.number().int().nullable(),
    uses: z.number().int(),
    expires_at: isoDate.nullable(),
    inserted_at: isoDate,
  })
  .meta({ id: 'GroupInvite' });

export const inviteList = z.object({ data: z.array(invite), next_cursor: z.null() });

export const member = z
  .object({
    user: z.object({ id: uuid, username: z.string(), display_name: z.string().nullable(), avatar_url: z.string().nullable() }),
    group_id: uuid,
    nickname: z.string().nullable(),
    role_ids: z.array(uuid).describe('roles besides the implicit @everyone'),
    is_owner: z.boolean(),
    joined_at: isoDate,
  })
  .meta({ id: 'GroupMember' });

export const memberList = z.object({ data: z.array(member), next_cursor: z.string().nullable() });

export const updateMemberBody = z.object({
  nickname: z.string().max(1000).nullish().describe('at most 32 characters; null or "" clears it'),
  role_ids: z.array(uuid).max(250).optional().describe("replaces the member's roles"),
});

export const banBody = z.object({ reason: z.string().max(5000).nullish().describe('at most 512 characters') }).nullish();

export const ban = z
  .object({ user_id: uuid, username: z.string(), reason: z.string().nullable(), banned_by_id: uuid.nullable(), inserted_at: isoDate })
  .meta({ id: 'GroupBan' });
export const banList = z.object({ data: z.array(ban), next_cursor: z.string().nullable() });

export const role = z
  .object({
    id: uuid,
    group_id: uuid,
    name: z.string(),
    color: z.string().nullable(),
    position: z.number().int().describe('hierarchy: higher is more senior; @everyone is 0'),
    permissions: z.number().int(),
    is_default: z.boolean().describe('the @everyone role'),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'Role' });

export const roleList = z.object({ data: z.array(role), next_cursor: z.null() });

export const createRoleBody = z.object({
  name: z.string().max(1000).describe('1 to 100 characters'),
  color: z.string().max(100).nullish().describe('#rrggbb'),
  permissions: bits.optional(),
  position: z.number().int().min(-1).max(10_000_000).optional().describe('≥ 1 and below your highest role; default 1'),
});

export const updateRoleBody = createRoleBody.partial();

export const category = z
  .object({ id: uuid, group_id: uuid, name: z.string(), position: z.number().int(), inserted_at: isoDate })
  .meta({ id: 'ChannelCategory' });
export const categoryList = z.object({ data: z.array(category), next_cursor: z.null() });

export const createCategoryBody = z.object({
  name: z.string().max(1000).describe('1 to 100 characters'),
  position: z.number().int().min(-1).max(10_000_000).optional(),
});
export const updateCategoryBody = createCategoryBody.partial();

export const overwrite = z.object({ role_id: uuid, allow: z.number().int(), deny: z.number().int() }).meta({ id: 'PermissionOverwrite' });

export const channel = z
  .object({
    id: uuid,
    group_id: uuid,
    category_id: uuid.nullable(),
    name: z.string(),
    type: z.enum(['text', 'voice', 'announcement']),
    topic: z.string().nullable(),
    position: z.number().int(),
    is_private: z.boolean(),
    permissions: z.number().int().describe("the caller's effective permission bits in this channel"),
    last_message_seq: z.number().int(),
    last_message_at: isoDate.nullable(),
    last_read_seq: z.number().int().describe("the caller's read position"),
    unread_count: z.number().int(),
    overwrites: z.array(overwrite).optional().describe('GET /channels/:id, for holders of MANAGE_ROLES'),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'Channel' });

export const channelList = z.object({ data: z.array(channel), next_cursor: z.null() });

export const createChannelBody = z.object({
  name: z.string().max(1000).describe('1 to 100 characters'),
  type: z.string().max(50).optional().describe('text (default), voice or announcement'),
  topic: z.string().max(10_000).nullish().describe('at most 1024 characters'),
  category_id: uuid.nullish(),
  position: z.number().int().min(-1).max(10_000_000).optional(),
  is_private: z.boolean().optional().describe('visible only to roles allowed VIEW_CHANNEL by an overwrite'),
});

export const updateChannelBody = createChannelBody.omit({ type: true }).partial();

export const reorderBody = z.object({
  channels: z
    .array(z.object({ id: uuid, position: z.number().int().min(-1).max(10_000_000), category_id: uuid.nullish() }))
    .max(500)
    .optional(),
  categories: z
    .array(z.object({ id: uuid, position: z.number().int().min(-1).max(10_000_000) }))
    .max(500)
    .optional(),
});

export const overwriteBody = z.object({ allow: bits, deny: bits });

export const pageQuery = cursorQuery;
