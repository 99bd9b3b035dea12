// Posts, listings, votes and polls over HTTP.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { caller } from '../../http/auth.ts';
import { errors, noContent } from '../../http/schemas.ts';
import * as polls from './polls.ts';
import * as posts from './posts.ts';
import { listPosts } from './ranking.ts';
import type { ForumRouteKit } from './routes.ts';
import { createPostBody, forumParams, idParams, listPostsQuery, pollVoteBody, post, postList, updatePostBody, voteBody, voteResult } from './schemas.ts';
import * as votes from './votes.ts';

export const postsRoutes =
  ({ db, events, optionalAuth, viewer, authed, writing, voting, base }: ForumRouteKit): FastifyPluginAsyncZod =>
  async (app) => {
    const me = (request: FastifyRequest) => caller(request).user.id;

    app.get(
      '/forums/:slug/posts',
      {
        preHandler: optionalAuth,
        schema: {
          ...base,
          summary: "A forum's posts: pinned first, then by sort (hot, new, top with t=day|week|month|year|all)",
          description: 'Cursor-paged; a cursor belongs to its sort (and window): another one is 400 invalid_cursor. Paging is stable while scores move (docs/forums.md).',
          params: forumParams,
          querystring: listPostsQuery,
          response: { 200: postList, ...errors(400, 401, 404) },
        },
      },
      async (request) => listPosts(db, viewer(request), request.params.slug, request.query),
    );

    app.post(
      '/forums/:slug/posts',
      {
        ...writing,
        schema: {
          ...base,
          summary: 'Create a post: text, link, image or poll',
          params: forumParams,
          body: createPostBody,
          response: { 201: post, ...errors(400, 401, 404, 422) },
        },
      },
      async (request, reply) => reply.code(201).send(await posts.createPost(db, events, me(request), request.params.slug, request.body)),
    );

    app.get(
      '/posts/:id',
      { preHandler: optionalAuth, schema: { ...base, summary: 'A post (a deleted one is a tombstone)', params: idParams, response: { 200: post, ...errors(401, 404) } } },
      async (request) => posts.getPost(db, viewer(request), request.params.id),
    );

    app.patch(
      '/posts/:id',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Edit a post (title, content, url, flair: the author) or pin and lock it (moderators)',
          params: idParams,
          body: updatePostBody,
          response: { 200: post, ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (request) => posts.updatePost(db, events, me(request), request.params.id, request.body),
    );

    app.delete(
      '/posts/:id',
      { ...authed, schema: { ...base, summary: 'Delete a post (the author or a moderator); its comments stay', params: idParams, response: { 204: noContent, ...errors(401, 403, 404) } } },
      async (request, reply) => {
        await posts.deletePost(db, events, me(request), request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/posts/:id/vote',
      {
        ...voting,
        schema: { ...base, summary: 'Vote on a post: 1 up, -1 down, 0 removes your vote', params: idParams, body: voteBody, response: { 200: voteResult, ...errors(400, 401, 404, 422) } },
      },
      async (request) => votes.votePost(db, events, me(request), request.params.id, request.body.value),
    );

    app.post(
      '/posts/:id/poll/vote',
      {
        ...voting,
        schema: {
          ...base,
          summary: 'Vote in a poll (one vote per user, changeable until it closes)',
          description: '422 for an option of another poll, 422 not_a_poll, 409 poll_closed.',
          params: idParams,
          body: pollVoteBody,
          response: { 200: post, ...errors(400, 401, 404, 409, 422) },
        },
      },
      async (request) => polls.votePoll(db, events, me(request), request.params.id, request.body.option_id),
    );
  };
