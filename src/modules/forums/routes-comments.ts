// Comments over HTTP: the tree of a post, writing, editing, deleting and voting.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { caller } from '../../http/auth.ts';
import { errors, noContent } from '../../http/schemas.ts';
import * as comments from './comments.ts';
import type { ForumRouteKit } from './routes.ts';
import { comment, commentList, createCommentBody, idParams, listCommentsQuery, updateCommentBody, voteBody, voteResult } from './schemas.ts';
import * as votes from './votes.ts';

export const commentsRoutes =
  ({ db, events, optionalAuth, viewer, authed, writing, voting, base }: ForumRouteKit): FastifyPluginAsyncZod =>
  async (app) => {
    const me = (request: FastifyRequest) => caller(request).user.id;

    app.get(
      '/posts/:id/comments',
      {
        preHandler: optionalAuth,
        schema: {
          ...base,
          summary: "A post's comments as a tree (sort best, top or new), top-level comments cursor-paged",
          params: idParams,
          querystring: listCommentsQuery,
          response: { 200: commentList, ...errors(400, 401, 404) },
        },
      },
      async (request) => comments.listComments(db, viewer(request), request.params.id, request.query),
    );

    app.post(
      '/posts/:id/comments',
      {
        ...writing,
        schema: {
          ...base,
          summary: 'Comment on a post, or reply to a comment (parent_id)',
          description: '403 post_locked on a locked post; 422 for a parent_id of another post.',
          params: idParams,
          body: createCommentBody,
          response: { 201: comment, ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (request, reply) => reply.code(201).send(await comments.createComment(db, events, me(request), request.params.id, request.body)),
    );

    app.patch(
      '/comments/:id',
      {
        ...authed,
        schema: { ...base, summary: 'Edit your comment', params: idParams, body: updateCommentBody, response: { 200: comment, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => comments.updateComment(db, events, me(request), request.params.id, request.body),
    );

    app.delete(
      '/comments/:id',
      {
        ...authed,
        schema: { ...base, summary: 'Delete a comment (the author or a moderator); its replies stay in place', params: idParams, response: { 204: noContent, ...errors(401, 403, 404) } },
      },
      async (request, reply) => {
        await comments.deleteComment(db, events, me(request), request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/comments/:id/vote',
      {
        ...voting,
        schema: { ...base, summary: 'Vote on a comment: 1, -1 or 0 (403 post_locked on a locked post)', params: idParams, body: voteBody, response: { 200: voteResult, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => votes.voteComment(db, events, me(request), request.params.id, request.body.value),
    );
  };
