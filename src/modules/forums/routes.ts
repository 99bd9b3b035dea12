// Forums over HTTP: validate, call the context, shape the reply. Reading routes take an
// optional bearer token (public forums are readable signed out; a private one is 404
// without the right token); writing routes require one. Split by area: forums, moderators
// and flairs here; posts, votes and polls in routes-posts.ts; comments in routes-comments.ts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { bearerToken, caller, type RequireAuth } from '../../http/auth.ts';
import type { RateLimits } from '../../http/rate-limit.ts';
import { cursorQuery, errors, noContent } from '../../http/schemas.ts';
import * as forums from './forums.ts';
import { commentsRoutes } from './routes-comments.ts';
import { postsRoutes } from './routes-posts.ts';
import { createFlairBody, createForumBody, flair, flairList, flairParams, forum, forumList, forumParams, forumUserParams, updateForumBody } from './schemas.ts';

export interface ForumsDeps {
  db: Db;
  events: EventBus;
  requireAuth: RequireAuth;
  limits: RateLimits;
}

export interface ForumRouteKit extends ForumsDeps {
  /** preHandler: authenticates when a bearer token is sent (401 if it is not valid). */
  optionalAuth: (request: FastifyRequest) => Promise<void>;
  viewer: (request: FastifyRequest) => string | null;
  authed: { preHandler: RequireAuth };
  /** authed, and counted against the caller's budget of new posts and comments (429 beyond). */
  writing: { preHandler: Array<(request: FastifyRequest) => Promise<void>> };
  /** authed, and counted against the caller's budget of votes. */
  voting: { preHandler: Array<(request: FastifyRequest) => Promise<void>> };
  base: { tags: string[]; security: Array<Record<string, string[]>> };
}

export function routeKit(deps: ForumsDeps): ForumRouteKit {
  return {
    ...deps,
    optionalAuth: async (request) => {
      if (bearerToken(request) !== undefined || request.headers.authorization !== undefined) await deps.requireAuth(request);
    },
    viewer: (request) => request.auth?.user.id ?? null,
    authed: { preHandler: deps.requireAuth },
    writing: { preHandler: [deps.requireAuth, deps.limits.perUser('forumPosts')] },
    voting: { preHandler: [deps.requireAuth, deps.limits.perUser('forumVotes')] },
    base: { tags: ['forums'], security: [{ bearer: [] }, {}] },
  };
}

export const forumsRoutes =
  (deps: ForumsDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const kit = routeKit(deps);
    const { db, optionalAuth, viewer, authed, base } = kit;
    const me = (request: FastifyRequest) => caller(request).user.id;

    app.get(
      '/forums',
      {
        preHandler: optionalAuth,
        schema: { ...base, summary: 'Forums you can see: public ones and private ones you are in, newest first', querystring: cursorQuery, response: { 200: forumList, ...errors(400, 401) } },
      },
      async (request) => forums.listForums(db, viewer(request), request.query),
    );

    app.post(
      '/forums',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Create a forum; you are its owner',
          description: 'slug: ^[a-z0-9-]{2,50}$, unique (422 `has already been taken`).',
          body: createForumBody,
          response: { 201: forum, ...errors(400, 401, 422) },
        },
      },
      async (request, reply) => reply.code(201).send(await forums.createForum(db, me(request), request.body)),
    );

    app.get(
      '/forums/:slug',
      { preHandler: optionalAuth, schema: { ...base, summary: 'A forum (404 for a private one you are not in)', params: forumParams, response: { 200: forum, ...errors(401, 404) } } },
      async (request) => forums.getForum(db, viewer(request), request.params.slug),
    );

    app.patch(
      '/forums/:slug',
      {
        ...authed,
        schema: { ...base, summary: "Change a forum's settings (owner)", params: forumParams, body: updateForumBody, response: { 200: forum, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => forums.updateForum(db, me(request), request.params.slug, request.body),
    );

    app.post(
      '/forums/:slug/moderators/:user_id',
      { ...authed, schema: { ...base, summary: 'Appoint a moderator (owner; idempotent)', params: forumUserParams, response: { 200: forum, ...errors(401, 403, 404) } } },
      async (request) => forums.addModerator(db, me(request), request.params.slug, request.params.user_id),
    );

    app.delete(
      '/forums/:slug/moderators/:user_id',
      { ...authed, schema: { ...base, summary: 'Remove a moderator (owner)', params: forumUserParams, response: { 204: noContent, ...errors(401, 403, 404) } } },
      async (request, reply) => {
        await forums.removeModerator(db, me(request), request.params.slug, request.params.user_id);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/forums/:slug/members/:user_id',
      {
        ...authed,
        schema: { ...base, summary: 'Add a member, who can then see a private forum (moderators; idempotent)', params: forumUserParams, response: { 204: noContent, ...errors(401, 403, 404) } },
      },
      async (request, reply) => {
        await forums.addMember(db, me(request), request.params.slug, request.params.user_id);
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/forums/:slug/members/:user_id',
      {
        ...authed,
        schema: { ...base, summary: 'Remove a member (moderators), or leave (your own id)', params: forumUserParams, response: { 204: noContent, ...errors(401, 403, 404) } },
      },
      async (request, reply) => {
        await forums.removeMember(db, me(request), request.params.slug, request.params.user_id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/forums/:slug/flairs',
      { preHandler: optionalAuth, schema: { ...base, summary: "A forum's flairs, by name", params: forumParams, response: { 200: flairList, ...errors(401, 404) } } },
      async (request) => forums.listFlairs(db, viewer(request), request.params.slug),
    );

    app.post(
      '/forums/:slug/flairs',
      {
        ...authed,
        schema: { ...base, summary: 'Create a flair (moderators)', params: forumParams, body: createFlairBody, response: { 201: flair, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request, reply) => reply.code(201).send(await forums.createFlair(db, me(request), request.params.slug, request.body)),
    );

    app.delete(
      '/forums/:slug/flairs/:flair_id',
      { ...authed, schema: { ...base, summary: 'Delete a flair (moderators); posts wearing it lose it', params: flairParams, response: { 204: noContent, ...errors(401, 403, 404) } } },
      async (request, reply) => {
        await forums.deleteFlair(db, me(request), request.params.slug, request.params.flair_id);
        return reply.code(204).send(null);
      },
    );

    await app.register(postsRoutes(kit));
    await app.register(commentsRoutes(kit));
  };
