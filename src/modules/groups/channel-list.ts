// The channel list of a group (GET /groups/:id/channels): every channel the caller may view,
// in display order, with their effective permissions and unread count. ONE compile-once
// statement per request, rendered without objects:
//
// - What changes with every message (each channel's last_message_seq / last_message_at and
//   the caller's read position) is read every time.
// - What changes only when the group's definitions or permissions do (each channel's
//   fields, and the caller's permissions in each) is read only when the group's
//   access_version (migration 20261126130000: moved by triggers on memberships, roles,
//   overwrites and every change of a channel's own fields) differs from the version this
//   node kept them at. The statement is given that version and returns the definitions
//   (the channels' JSON and the overwrites that concern the caller, folded) only when it
//   is not the current one, in the same snapshot as the live part.
//
// The permission is always decided by channelPermissionsFolded, the one rule, from the
// caller's base permissions and the folded overwrites. Nothing is decided from a version
// that the statement did not just confirm.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';
import { isoText } from '../../db/rendered.ts';
import { NotFoundError } from '../../lib/errors.ts';
import { RenderedJson } from '../../lib/rendered-json.ts';
import { keptPerDatabase } from './access-cache.ts';
import type { ChannelType, ChannelView } from './channels.ts';
import { ACCESS_COLUMNS, channelPermissionsFolded, EVERYONE_OF_GROUP, has, MEMBER_ROLES, Permission, toAccess } from './permissions.ts';

/** A channel's fields around the live ones, as JSON text: `{"id":…,"is_private":…,` and `"inserted_at":…}`. */
interface ChannelDefinition {
  id: string;
  head: string;
  tail: string;
}

interface KeptGroup {
  version: number;
  channels: ChannelDefinition[];
}

interface KeptPermissions {
  version: number;
  /** The caller's permissions in each channel of KeptGroup.channels, same order. */
  permissions: Uint32Array;
}

const keptGroups = keptPerDatabase<KeptGroup>(1_000);
const keptPermissions = keptPerDatabase<KeptPermissions>(10_000);

// Lines separated by \n, fields by \x01 (JSON text never holds a raw control character).
// `definitions`, only when $known is not the group's version: per channel
// `id \x01 everyoneAllow,everyoneDeny,rolesAllow,rolesDeny,is_private,type \x01 head \x01 tail`.
// `live`, always: per channel `id \x01 last_message_seq \x01 last_read_seq \x01 last_message_at`.
// Non-members get neither.
const channelListStatement = prepare((db, p: { groupId: string; userId: string; known: number }) =>
  db
    .selectFrom('groups as g')
    .innerJoin('roles as e', (join) => join.on(EVERYONE_OF_GROUP))
    .leftJoin('group_members as gm', (join) => join.onRef('gm.group_id', '=', 'g.id').on('gm.user_id', '=', p.userId))
    .select([
      ...ACCESS_COLUMNS,
      sql<boolean>`false`.as('banned'),
      sql<Array<{ id: string; position: number; permissions: number }>>`CASE WHEN g.access_version <> ${p.known}::bigint THEN ${MEMBER_ROLES} ELSE '[]'::json END`.as(
        'roles',
      ),
      sql<string | null>`CASE WHEN g.access_version <> ${p.known}::bigint THEN (
        SELECT string_agg(
          c.id::text
          || chr(1) || concat_ws(',', coalesce(o.everyone_allow, 0), coalesce(o.everyone_deny, 0), coalesce(o.roles_allow, 0),
            coalesce(o.roles_deny, 0), c.is_private::int, c.type)
          || chr(1) || left(json_build_object(
            'id', c.id, 'group_id', c.group_id, 'category_id', c.category_id, 'name', c.name, 'type', c.type,
            'topic', c.topic, 'position', c.position, 'is_private', c.is_private)::text, -1)
          || chr(1) || substr(json_build_object(
            'inserted_at', ${isoText('c.inserted_at')}, 'updated_at', ${isoText('c.updated_at')})::text, 2),
          chr(10) ORDER BY c.position, c.id)
        FROM channels AS c
        LEFT JOIN (
          -- Only the overwrites of @everyone and of the caller's roles (the role_id index),
          -- not every overwrite of every channel.
          SELECT o.channel_id,
            bit_or(o.allow) FILTER (WHERE o.role_id = e.id) AS everyone_allow,
            bit_or(o.deny) FILTER (WHERE o.role_id = e.id) AS everyone_deny,
            bit_or(o.allow) FILTER (WHERE o.role_id <> e.id) AS roles_allow,
            bit_or(o.deny) FILTER (WHERE o.role_id <> e.id) AS roles_deny
          FROM channel_permission_overwrites AS o
          WHERE o.role_id = ANY(e.id || ARRAY(SELECT mr.role_id FROM group_member_roles AS mr WHERE mr.group_member_id = gm.id))
          GROUP BY o.channel_id
        ) AS o ON o.channel_id = c.id
        WHERE c.group_id = g.id AND gm.id IS NOT NULL
      ) END`.as('definitions'),
      sql<string | null>`(
        SELECT string_agg(
          c.id::text || chr(1) || c.last_message_seq || chr(1) || coalesce(rs.last_read_seq, 0)
          || chr(1) || coalesce(${isoText('c.last_message_at')}, ''),
          chr(10) ORDER BY c.position, c.id)
        FROM channels AS c
        LEFT JOIN channel_read_states AS rs ON rs.channel_id = c.id AND rs.user_id = ${p.userId}::uuid
        WHERE c.group_id = g.id AND gm.id IS NOT NULL
      )`.as('live'),
    ])
    .where('g.id', '=', p.groupId),
);

type ListRow = Awaited<ReturnType<typeof channelListStatement>>[number];

/** The definitions and the caller's permissions from a row that carries them. */
function definitionsOf(row: ListRow, userId: string): { group: KeptGroup; mine: KeptPermissions } {
  const base = toAccess(row, userId).permissions;
  const lines = row.definitions ? row.definitions.split('\n') : [];
  const channels: ChannelDefinition[] = [];
  const permissions = new Uint32Array(lines.length);
  lines.forEach((line, i) => {
    const [id, folded, head, tail] = line.split('\x01') as [string, string, string, string];
    const [everyoneAllow, everyoneDeny, rolesAllow, rolesDeny, isPrivate, type] = folded.split(',');
    channels.push({ id, head, tail });
    permissions[i] = channelPermissionsFolded(
      base,
      { is_private: isPrivate === '1', type: type as ChannelType },
      { everyoneAllow: Number(everyoneAllow), everyoneDeny: Number(everyoneDeny), rolesAllow: Number(rolesAllow), rolesDeny: Number(rolesDeny) },
    );
  });
  return { group: { version: row.access_version, channels }, mine: { version: row.access_version, permissions } };
}

/**
 * The channels of a group the caller may view, in display order, each with its
 * permissions and unread count, as the JSON body of the list (`{data, next_cursor}`): one
 * statement, the definitions in it only when this node does not hold them at the group's
 * current version. Non-members: 404.
 */
export async function listChannels(db: Db, userId: string, groupId: string): Promise<RenderedJson<{ data: ChannelView[]; next_cursor: null }>> {
  const groups = keptGroups(db);
  const mine = keptPermissions(db);
  const permissionsKey = `${groupId}/${userId}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    const group = groups.get(groupId);
    const kept = mine.get(permissionsKey);
    // -1: no version is kept, so the statement returns the definitions.
    const known = attempt === 0 && group && kept && group.version === kept.version ? group.version : -1;
    const [row] = await channelListStatement(db, { groupId, userId, known });
    if (!row?.member_id) throw new NotFoundError('group');
    let definitions = group && kept && known !== -1 ? { group, mine: kept } : undefined;
    if (row.access_version !== known) {
      definitions = definitionsOf(row, userId);
      groups.set(groupId, definitions.group);
      mine.set(permissionsKey, definitions.mine);
    }
    const rendered = render(definitions!, row.live);
    if (rendered !== undefined) return new RenderedJson(rendered.text, rendered.size);
    // The live channels are not the defined ones: cannot happen at one version (a channel
    // created or deleted moves it), so ask once more for the definitions, to be sure.
  }
  throw new Error('listChannels: the live channels do not match their definitions');
}

/** The body from the definitions and the live part; undefined when they list different channels. */
function render(definitions: { group: KeptGroup; mine: KeptPermissions }, live: string | null): { text: string; size: number } | undefined {
  const lines = live ? live.split('\n') : [];
  const { channels } = definitions.group;
  if (lines.length !== channels.length) return undefined;
  const visible: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const [id, seq, readSeq, at] = lines[i]!.split('\x01') as [string, string, string, string];
    const channel = channels[i]!;
    if (channel.id !== id) return undefined;
    const permissions = definitions.mine.permissions[i]!;
    if (!has(permissions, Permission.VIEW_CHANNEL)) continue;
    const unread = Math.max(0, Number(seq) - Number(readSeq));
    visible.push(
      `${channel.head},"permissions":${permissions},"last_message_seq":${seq},"last_message_at":${at ? `"${at}"` : 'null'},` +
        `"last_read_seq":${readSeq},"unread_count":${unread},${channel.tail}`,
    );
  }
  return { text: `{"data":[${visible.join(',')}],"next_cursor":null}`, size: visible.length };
}
