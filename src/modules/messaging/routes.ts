// Conversations and their messages over HTTP: validate, call the context, shape the reply.
// Everything under /conversations/:id is 404 for non-participants.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Db } from '../../db/database.ts';
import type { AttachmentStorage } from '../attachments/storage.ts';
import type { EventBus } from '../../events/bus.ts';
import { caller, type RequireAuth } from '../../http/auth.ts';
import { sendRendered } from '../../http/rendered.ts';
import { cursorQuery, errors, noContent } from '../../http/schemas.ts';
import * as messages from './conversation-messages.ts';
import * as conversations from './conversations.ts';
import {
  addParticipantBody,
  conversation,
  conversationList,
  conversationParams,
  createConversationBody,
  editMessageBody,
  historyQuery,
  message,
  messageList,
  messageParams,
  participantParams,
  reactionParams,
  readBody,
  readResult,
  sendMessageBody,
  updateConversationBody,
} from './schemas.ts';

export interface MessagingDeps {
  db: Db;
  events: EventBus;
  requireAuth: RequireAuth;
  config: { messages: { maxLength: number } };
  /** The attachment store, to remove a deleted message's files. */
  storage?: AttachmentStorage;
}

export const messagingRoutes =
  ({ db, events, requireAuth, config, storage }: MessagingDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const options: messages.MessagingOptions = { maxLength: config.messages.maxLength, storage };
    const base = { tags: ['conversations'], security: [{ bearer: [] }] };
    const authed = { preHandler: requireAuth } as const;

    app.post(
      '/conversations',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Open the 1:1 DM with a user (200 when it exists) or create a group DM (201)',
          body: createConversationBody,
          response: { 200: conversation, 201: conversation, ...errors(400, 401, 403, 422) },
        },
      },
      async (request, reply) => {
        const result = await conversations.createConversation(
          db,
          events,
          caller(request).user.id,
          request.body,
        );
        return reply.code(result.created ? 201 : 200).send(result.conversation);
      },
    );

    app.get(
      '/conversations',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Your conversations, newest activity first, with unread counts',
          querystring: cursorQuery,
          response: { 200: conversationList, ...errors(400, 401) },
        },
      },
      async (request, reply) => sendRendered(reply, await conversations.listConversations(db, caller(request).user.id, request.query)),
    );

    app.get(
      '/conversations/:id',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'A conversation with its participants',
          params: conversationParams,
          response: { 200: conversation, ...errors(401, 404) },
        },
      },
      async (request) => conversations.getConversation(db, caller(request).user.id, request.params.id),
    );

    app.patch(
      '/conversations/:id',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Rename a group DM, or mute or unmute a conversation for yourself',
          params: conversationParams,
          body: updateConversationBody,
          response: { 200: conversation, ...errors(400, 401, 404, 422) },
        },
      },
      async (request) =>
        conversations.updateConversation(
          db,
          events,
          caller(request).user.id,
          request.params.id,
          request.body,
        ),
    );

    app.post(
      '/conversations/:id/participants',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Add a user to a group DM',
          params: conversationParams,
          body: addParticipantBody,
          response: { 200: conversation, ...errors(400, 401, 403, 404, 409, 422) },
        },
      },
      async (request) =>
        conversations.addParticipant(
          db,
          events,
          caller(request).user.id,
          request.params.id,
          request.body.user_id,
        ),
    );

    app.delete(
      '/conversations/:id/participants/:user_id',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Leave a group DM (your own id) or, as its owner, remove someone',
          params: participantParams,
          response: { 204: noContent, ...errors(401, 403, 404, 422) },
        },
      },
      async (request, reply) => {
        await conversations.removeParticipant(
          db,
          events,
          caller(request).user.id,
          request.params.id,
          request.params.user_id,
        );
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/conversations/:id/messages',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'History, newest first (before / after a message id, or cursor)',
          params: conversationParams,
          querystring: historyQuery,
          response: { 200: messageList, ...errors(400, 401, 404) },
        },
      },
      async (request, reply) =>
        sendRendered(reply, await messages.listConversationMessages(db, caller(request).user.id, request.params.id, request.query)),
    );

    app.post(
      '/conversations/:id/messages',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Send a message (idempotent per sender with a nonce)',
          params: conversationParams,
          body: sendMessageBody,
          response: { 201: message, ...errors(400, 401, 403, 404, 413, 422) },
        },
      },
      async (request, reply) => {
        const { user } = caller(request);
        const sender = {
          id: user.id,
          username: user.username,
          display_name: user.display_name,
          avatar_url: user.avatar_url,
        };
        return reply
          .code(201)
          .send(await messages.sendMessage(db, events, sender, request.params.id, request.body, options));
      },
    );

    app.patch(
      '/conversations/:id/messages/:message_id',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Edit your message (sets edited_at)',
          params: messageParams,
          body: editMessageBody,
          response: { 200: message, ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (request) =>
        messages.editConversationMessage(
          db,
          events,
          caller(request).user.id,
          request.params.id,
          request.params.message_id,
          request.body.content,
          options,
        ),
    );

    app.delete(
      '/conversations/:id/messages/:message_id',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Delete a message (soft: its content is gone for good); author or group-DM owner',
          params: messageParams,
          response: { 204: noContent, ...errors(401, 403, 404) },
        },
      },
      async (request, reply) => {
        await messages.deleteConversationMessage(
          db,
          events,
          caller(request).user.id,
          request.params.id,
          request.params.message_id,
          options,
        );
        return reply.code(204).send(null);
      },
    );

    app.put(
      '/conversations/:id/messages/:message_id/reactions/:emoji',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'React with an emoji (idempotent)',
          params: reactionParams,
          response: { 204: noContent, ...errors(401, 403, 404, 409, 422) },
        },
      },
      async (request, reply) => {
        const { id, message_id, emoji } = request.params;
        await messages.reactToMessage(db, events, caller(request).user.id, id, message_id, emoji);
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/conversations/:id/messages/:message_id/reactions/:emoji',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Remove your reaction',
          params: reactionParams,
          response: { 204: noContent, ...errors(401, 404, 422) },
        },
      },
      async (request, reply) => {
        const { id, message_id, emoji } = request.params;
        await messages.unreactToMessage(db, events, caller(request).user.id, id, message_id, emoji);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/conversations/:id/read',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Mark read up to a message (default: the latest); never moves backwards',
          params: conversationParams,
          body: readBody,
          response: { 200: readResult, ...errors(400, 401, 404, 422) },
        },
      },
      async (request) =>
        messages.markConversationRead(
          db,
          caller(request).user.id,
          request.params.id,
          request.body?.message_id,
        ),
    );
  };
