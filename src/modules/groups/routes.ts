// Groups, invites, members, bans and roles over HTTP: validate, call the context, shape
// the reply. Channels and channel messages are in routes-channels.ts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { caller } from '../../http/auth.ts';
import { errors, noContent } from '../../http/schemas.ts';
import * as groups from './groups.ts';
import * as invites from './invites.ts';
import * as members from './members.ts';
import * as roles from './roles.ts';
import { channelsRoutes, type ChannelsDeps } from './routes-channels.ts';
import {
  banBody,
  banList,
  createGroupBody,
  createInviteBody,
  createRoleBody,
  group,
  groupList,
  groupParams,
  groupInviteParams,
  invite,
  inviteList,
  inviteParams,
  member,
  memberList,
  memberParams,
  pageQuery,
  role,
  roleList,
  roleParams,
  transferBody,
  updateGroupBody,
  updateMemberBody,
  updateRoleBody,
} from './schemas.ts';

export type GroupsDeps = ChannelsDeps;

export const groupsRoutes =
  (deps: GroupsDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db, events, requireAuth } = deps;
    await app.register(channelsRoutes(deps));
    const base = { tags: ['groups'], security: [{ bearer: [] }] };
    const authed = { preHandler: requireAuth } as const;
    const me = (request: Parameters<typeof caller>[0]) => caller(request).user.id;

    app.post(
      '/groups',
      {
        ...authed,
        schema: { ...base, summary: 'Create a group (you own it; @everyone and #general come with it)', body: createGroupBody, response: { 201: group, ...errors(400, 401, 422) } },
      },
      async (request, reply) => reply.code(201).send(await groups.createGroup(db, events, me(request), request.body)),
    );

    app.get(
      '/groups',
      { ...authed, schema: { ...base, summary: 'Groups you belong to', querystring: pageQuery, response: { 200: groupList, ...errors(400, 401) } } },
      async (request) => groups.listMyGroups(db, me(request), request.query),
    );

    app.get(
      '/groups/discover',
      { ...authed, schema: { ...base, summary: 'Public groups, biggest first', querystring: pageQuery, response: { 200: groupList, ...errors(400, 401) } } },
      async (request) => groups.discoverGroups(db, me(request), request.query),
    );

    app.get(
      '/groups/:id',
      { ...authed, schema: { ...base, summary: 'A group (members, or anyone for a public group)', params: groupParams, response: { 200: group, ...errors(401, 404) } } },
      async (request) => groups.getGroup(db, me(request), request.params.id),
    );

    app.patch(
      '/groups/:id',
      {
        ...authed,
        schema: { ...base, summary: 'Edit a group (MANAGE_GROUP)', params: groupParams, body: updateGroupBody, response: { 200: group, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => groups.updateGroup(db, events, me(request), request.params.id, request.body),
    );

    app.delete(
      '/groups/:id',
      { ...authed, schema: { ...base, summary: 'Delete a group and everything in it (owner only)', params: groupParams, response: { 204: noContent, ...errors(401, 403, 404) } } },
      async (request, reply) => {
        await groups.deleteGroup(db, events, me(request), request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/groups/:id/transfer',
      {
        ...authed,
        schema: { ...base, summary: 'Transfer ownership to another member (owner only)', params: groupParams, body: transferBody, response: { 200: group, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => groups.transferOwnership(db, events, me(request), request.params.id, request.body.user_id),
    );

    app.post(
      '/groups/:id/invite',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'A new invite code (CREATE_INVITE): without limits it replaces the default invite',
          params: groupParams,
          body: createInviteBody,
          response: { 201: invite, ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (request, reply) => reply.code(201).send(await invites.createInvite(db, me(request), request.params.id, request.body ?? {})),
    );

    app.get(
      '/groups/:id/invites',
      { ...authed, schema: { ...base, summary: "The group's live invites (MANAGE_GROUP)", params: groupParams, response: { 200: inviteList, ...errors(401, 403, 404) } } },
      async (request) => ({ data: await invites.listInvites(db, me(request), request.params.id), next_cursor: null }),
    );

    app.delete(
      '/groups/:id/invites/:code',
      {
        ...authed,
        schema: { ...base, summary: 'Revoke an invite (its creator, or MANAGE_GROUP)', params: groupInviteParams, response: { 204: noContent, ...errors(401, 403, 404) } },
      },
      async (request, reply) => {
        await invites.revokeInvite(db, me(request), request.params.id, request.params.code);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/invites/:code',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Join a group by invite (200 with the membership; already a member: the same)',
          params: inviteParams,
          response: { 200: member, ...errors(401, 403, 404) },
        },
      },
      async (request) => invites.joinByInvite(db, events, me(request), request.params.code),
    );

    app.get(
      '/groups/:id/members',
      { ...authed, schema: { ...base, summary: 'Members, in join order', params: groupParams, querystring: pageQuery, response: { 200: memberList, ...errors(400, 401, 404) } } },
      async (request) => members.listMembers(db, me(request), request.params.id, request.query),
    );

    app.patch(
      '/groups/:id/members/:user_id',
      {
        ...authed,
        schema: {
          ...base,
          summary: "Set a nickname (yours, or others' with MANAGE_GROUP) or a member's roles (MANAGE_ROLES)",
          params: memberParams,
          body: updateMemberBody,
          response: { 200: member, ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (request) => members.updateMember(db, events, me(request), request.params.id, request.params.user_id, request.body),
    );

    app.delete(
      '/groups/:id/members/:user_id',
      {
        ...authed,
        schema: { ...base, summary: 'Leave (your own id) or kick (KICK_MEMBERS)', params: memberParams, response: { 204: noContent, ...errors(401, 403, 404, 409) } },
      },
      async (request, reply) => {
        await members.removeMember(db, events, me(request), request.params.id, request.params.user_id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/groups/:id/bans',
      { ...authed, schema: { ...base, summary: 'Bans (BAN_MEMBERS)', params: groupParams, querystring: pageQuery, response: { 200: banList, ...errors(400, 401, 403, 404) } } },
      async (request) => members.listBans(db, me(request), request.params.id, request.query),
    );

    app.post(
      '/groups/:id/bans/:user_id',
      {
        ...authed,
        schema: { ...base, summary: 'Ban a user (BAN_MEMBERS); removes them if a member', params: memberParams, body: banBody, response: { 204: noContent, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request, reply) => {
        await members.banMember(db, events, me(request), request.params.id, request.params.user_id, request.body?.reason);
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/groups/:id/bans/:user_id',
      { ...authed, schema: { ...base, summary: 'Lift a ban (BAN_MEMBERS)', params: memberParams, response: { 204: noContent, ...errors(401, 403, 404) } } },
      async (request, reply) => {
        await members.unbanMember(db, me(request), request.params.id, request.params.user_id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/groups/:id/roles',
      { ...authed, schema: { ...base, summary: 'Roles, highest first', params: groupParams, response: { 200: roleList, ...errors(401, 404) } } },
      async (request) => ({ data: await roles.listRoles(db, me(request), request.params.id), next_cursor: null }),
    );

    app.post(
      '/groups/:id/roles',
      {
        ...authed,
        schema: { ...base, summary: 'Create a role below your highest (MANAGE_ROLES)', params: groupParams, body: createRoleBody, response: { 201: role, ...errors(400, 401, 403, 404, 409, 422) } },
      },
      async (request, reply) => reply.code(201).send(await roles.createRole(db, events, me(request), request.params.id, request.body)),
    );

    app.patch(
      '/groups/:id/roles/:role_id',
      {
        ...authed,
        schema: { ...base, summary: 'Edit a role below your highest (MANAGE_ROLES)', params: roleParams, body: updateRoleBody, response: { 200: role, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => roles.updateRole(db, events, me(request), request.params.id, request.params.role_id, request.body),
    );

    app.delete(
      '/groups/:id/roles/:role_id',
      { ...authed, schema: { ...base, summary: 'Delete a role below your highest (MANAGE_ROLES)', params: roleParams, response: { 204: noContent, ...errors(401, 403, 404, 422) } } },
      async (request, reply) => {
        await roles.deleteRole(db, events, me(request), request.params.id, request.params.role_id);
        return reply.code(204).send(null);
      },
    );
  };
