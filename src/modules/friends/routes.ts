// Friends and blocks over HTTP: validate, call the context, shape the reply.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { caller, type RequireAuth } from '../../http/auth.ts';
import { cursorQuery, errors, noContent } from '../../http/schemas.ts';
import { blocksPage, friendRequests, friendsPage, friendship, idParams, userIdParams, usernameBody } from './schemas.ts';
import * as friends from './service.ts';

export interface FriendsDeps {
  db: Db;
  events: EventBus;
  requireAuth: RequireAuth;
}

export const friendsRoutes =
  ({ db, events, requireAuth }: FriendsDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const authed = { preHandler: requireAuth, schema: { security: [{ bearer: [] }], tags: ['friends'] } } as const;

    app.get(
      '/friends',
      { ...authed, schema: { ...authed.schema, summary: 'Your friends, most recently accepted first', querystring: cursorQuery, response: { 200: friendsPage, ...errors(400, 401) } } },
      async (request) => friends.listFriends(db, caller(request).user.id, request.query),
    );

    app.get(
      '/friends/requests',
      { ...authed, schema: { ...authed.schema, summary: 'Pending friend requests, both ways', response: { 200: friendRequests, ...errors(401) } } },
      async (request) => friends.listRequests(db, caller(request).user.id),
    );

    app.post(
      '/friends/requests',
      {
        ...authed,
        schema: {
          ...authed.schema,
          summary: 'Ask a user to be friends (201); if they already asked you, you are now friends (200)',
          description:
            'Errors: 404 not_found for an unknown user (and for one who blocked you), 409 friend_request_exists, 409 already_friends, 409 user_blocked (you blocked them), 422 friend_request_self.',
          body: usernameBody,
          response: { 200: friendship, 201: friendship, ...errors(401, 404, 409, 422) },
        },
      },
      async (request, reply) => {
        const outcome = await friends.requestFriend(db, events, caller(request).user.id, request.body.username);
        return reply.code(outcome.created ? 201 : 200).send(outcome.friendship);
      },
    );

    app.post(
      '/friends/requests/:id/accept',
      {
        ...authed,
        schema: {
          ...authed.schema,
          summary: 'Accept a friend request made to you',
          description: '403 not_addressee when you made the request; 404 when it is not yours to see.',
          params: idParams,
          response: { 200: friendship, ...errors(401, 403, 404) },
        },
      },
      async (request) => friends.acceptRequest(db, events, caller(request).user.id, request.params.id),
    );

    app.delete(
      '/friends/:user_id',
      {
        ...authed,
        schema: { ...authed.schema, summary: 'Unfriend, decline or cancel', params: userIdParams, response: { 204: noContent, ...errors(401, 404) } },
      },
      async (request, reply) => {
        await friends.removeFriend(db, events, caller(request).user.id, request.params.user_id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/blocks',
      { ...authed, schema: { ...authed.schema, summary: 'Users you have blocked, most recent first', querystring: cursorQuery, response: { 200: blocksPage, ...errors(400, 401) } } },
      async (request) => friends.listBlocks(db, caller(request).user.id, request.query),
    );

    app.post(
      '/blocks',
      {
        ...authed,
        schema: {
          ...authed.schema,
          summary: 'Block a user: ends any friendship or request; they can no longer friend-request, DM or mention you',
          body: usernameBody,
          response: { 204: noContent, ...errors(401, 404, 422) },
        },
      },
      async (request, reply) => {
        await friends.blockUser(db, events, caller(request).user.id, request.body.username);
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/blocks/:user_id',
      { ...authed, schema: { ...authed.schema, summary: 'Unblock a user', params: userIdParams, response: { 204: noContent, ...errors(401, 404) } } },
      async (request, reply) => {
        await friends.unblockUser(db, events, caller(request).user.id, request.params.user_id);
        return reply.code(204).send(null);
      },
    );
  };
