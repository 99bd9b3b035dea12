// Categories, channels, overwrites and channel messages over HTTP. Message routes have the
// same shapes as the conversation ones (messaging/schemas.ts): one contract for both.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { caller, type RequireAuth } from '../../http/auth.ts';
import { sendRendered } from '../../http/rendered.ts';
import { errors, noContent } from '../../http/schemas.ts';
import type { AttachmentStorage } from '../attachments/storage.ts';
import { editMessageBody, historyQuery, message, messageList, messageParams, reactionParams, readBody, readResult, sendMessageBody } from '../messaging/schemas.ts';
import * as categories from './categories.ts';
import * as messages from './channel-messages.ts';
import * as channels from './channels.ts';
import {
  category,
  categoryList,
  categoryParams,
  channel,
  channelList,
  channelParams,
  createCategoryBody,
  createChannelBody,
  groupParams,
  overwrite,
  overwriteBody,
  overwriteParams,
  reorderBody,
  updateCategoryBody,
  updateChannelBody,
} from './schemas.ts';

export interface ChannelsDeps {
  db: Db;
  events: EventBus;
  requireAuth: RequireAuth;
  config: { messages: { maxLength: number } };
  storage?: AttachmentStorage | undefined;
}

export const channelsRoutes =
  ({ db, events, requireAuth, config, storage }: ChannelsDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const options: messages.ChannelMessagingOptions = { maxLength: config.messages.maxLength, storage };
    const base = { tags: ['channels'], security: [{ bearer: [] }] };
    const authed = { preHandler: requireAuth } as const;
    const me = (request: Parameters<typeof caller>[0]) => caller(request).user.id;

    app.get(
      '/groups/:id/categories',
      { ...authed, schema: { ...base, summary: 'Channel categories, in display order', params: groupParams, response: { 200: categoryList, ...errors(401, 404) } } },
      async (request) => ({ data: await categories.listCategories(db, me(request), request.params.id), next_cursor: null }),
    );

    app.post(
      '/groups/:id/categories',
      {
        ...authed,
        schema: { ...base, summary: 'Create a category (MANAGE_CHANNELS)', params: groupParams, body: createCategoryBody, response: { 201: category, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request, reply) => reply.code(201).send(await categories.createCategory(db, events, me(request), request.params.id, request.body)),
    );

    app.patch(
      '/groups/:id/categories/:category_id',
      {
        ...authed,
        schema: { ...base, summary: 'Rename or move a category (MANAGE_CHANNELS)', params: categoryParams, body: updateCategoryBody, response: { 200: category, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => categories.updateCategory(db, events, me(request), request.params.id, request.params.category_id, request.body),
    );

    app.delete(
      '/groups/:id/categories/:category_id',
      {
        ...authed,
        schema: { ...base, summary: 'Delete a category; its channels stay, uncategorised (MANAGE_CHANNELS)', params: categoryParams, response: { 204: noContent, ...errors(401, 403, 404) } },
      },
      async (request, reply) => {
        await categories.deleteCategory(db, events, me(request), request.params.id, request.params.category_id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/groups/:id/channels',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'The channels you may view, in order, with your permissions and unread counts',
          params: groupParams,
          response: { 200: channelList, ...errors(401, 404) },
        },
      },
      async (request, reply) => sendRendered(reply, await channels.listChannels(db, me(request), request.params.id)),
    );

    app.post(
      '/groups/:id/channels',
      {
        ...authed,
        schema: { ...base, summary: 'Create a channel (MANAGE_CHANNELS)', params: groupParams, body: createChannelBody, response: { 201: channel, ...errors(400, 401, 403, 404, 409, 422) } },
      },
      async (request, reply) => reply.code(201).send(await channels.createChannel(db, events, me(request), request.params.id, request.body)),
    );

    app.patch(
      '/groups/:id/channels',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Reorder channels and categories at once (MANAGE_CHANNELS); returns the channel list',
          params: groupParams,
          body: reorderBody,
          response: { 200: channelList, ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (request, reply) => sendRendered(reply, await channels.reorder(db, events, me(request), request.params.id, request.body)),
    );

    app.get(
      '/channels/:id',
      { ...authed, schema: { ...base, summary: 'A channel you may view', params: channelParams, response: { 200: channel, ...errors(401, 404) } } },
      async (request) => channels.getChannel(db, me(request), request.params.id),
    );

    app.patch(
      '/channels/:id',
      {
        ...authed,
        schema: { ...base, summary: 'Edit a channel (MANAGE_CHANNELS)', params: channelParams, body: updateChannelBody, response: { 200: channel, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) => channels.updateChannel(db, events, me(request), request.params.id, request.body),
    );

    app.delete(
      '/channels/:id',
      { ...authed, schema: { ...base, summary: 'Delete a channel and its messages (MANAGE_CHANNELS)', params: channelParams, response: { 204: noContent, ...errors(401, 403, 404) } } },
      async (request, reply) => {
        await channels.deleteChannel(db, events, me(request), request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.put(
      '/channels/:id/permissions/:role_id',
      {
        ...authed,
        schema: {
          ...base,
          summary: "Set a role's overwrite in this channel (MANAGE_ROLES; a role below yours; bits you hold)",
          params: overwriteParams,
          body: overwriteBody,
          response: { 200: overwrite, ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (request) => channels.putOverwrite(db, events, me(request), request.params.id, request.params.role_id, request.body),
    );

    app.delete(
      '/channels/:id/permissions/:role_id',
      { ...authed, schema: { ...base, summary: "Remove a role's overwrite (MANAGE_ROLES)", params: overwriteParams, response: { 204: noContent, ...errors(401, 403, 404) } } },
      async (request, reply) => {
        await channels.deleteOverwrite(db, events, me(request), request.params.id, request.params.role_id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/channels/:id/messages',
      {
        ...authed,
        schema: { ...base, summary: 'History, newest first (READ_HISTORY)', params: channelParams, querystring: historyQuery, response: { 200: messageList, ...errors(400, 401, 403, 404, 409, 422) } },
      },
      async (request, reply) => sendRendered(reply, await messages.listChannelMessages(db, me(request), request.params.id, request.query)),
    );

    app.post(
      '/channels/:id/messages',
      {
        ...authed,
        schema: {
          ...base,
          summary: 'Send a message (SEND_MESSAGES; idempotent per sender with a nonce)',
          params: channelParams,
          body: sendMessageBody,
          // 409: the channel's permissions kept changing during the send; 503: no job worker
          // ever declared the @everyone queue.
          response: { 201: message, ...errors(400, 401, 403, 404, 409, 413, 422, 503) },
        },
      },
      async (request, reply) => {
        const { user } = caller(request);
        const sender = { id: user.id, username: user.username, display_name: user.display_name, avatar_url: user.avatar_url };
        return reply.code(201).send(await messages.sendChannelMessage(db, events, sender, request.params.id, request.body, options));
      },
    );

    app.patch(
      '/channels/:id/messages/:message_id',
      {
        ...authed,
        schema: { ...base, summary: 'Edit your message (sets edited_at)', params: messageParams, body: editMessageBody, response: { 200: message, ...errors(400, 401, 403, 404, 422) } },
      },
      async (request) =>
        messages.editChannelMessage(db, events, me(request), request.params.id, request.params.message_id, request.body.content, options),
    );

    app.delete(
      '/channels/:id/messages/:message_id',
      {
        ...authed,
        schema: { ...base, summary: 'Delete a message: the author, or a holder of MANAGE_MESSAGES', params: messageParams, response: { 204: noContent, ...errors(401, 403, 404, 422) } },
      },
      async (request, reply) => {
        await messages.deleteChannelMessage(db, events, me(request), request.params.id, request.params.message_id, options);
        return reply.code(204).send(null);
      },
    );

    app.put(
      '/channels/:id/messages/:message_id/reactions/:emoji',
      {
        ...authed,
        schema: { ...base, summary: 'React with an emoji (ADD_REACTIONS; idempotent)', params: reactionParams, response: { 204: noContent, ...errors(401, 403, 404, 409, 422) } },
      },
      async (request, reply) => {
        const { id, message_id, emoji } = request.params;
        await messages.reactToChannelMessage(db, events, me(request), id, message_id, emoji);
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/channels/:id/messages/:message_id/reactions/:emoji',
      { ...authed, schema: { ...base, summary: 'Remove your reaction', params: reactionParams, response: { 204: noContent, ...errors(401, 404, 422) } } },
      async (request, reply) => {
        const { id, message_id, emoji } = request.params;
        await messages.unreactToChannelMessage(db, events, me(request), id, message_id, emoji);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/channels/:id/read',
      {
        ...authed,
        schema: { ...base, summary: 'Mark read up to a message (default: the latest); never moves backwards', params: channelParams, body: readBody, response: { 200: readResult, ...errors(400, 401, 404, 422) } },
      },
      async (request) => messages.markChannelRead(db, me(request), request.params.id, request.body?.message_id),
    );
  };
