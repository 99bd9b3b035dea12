// Notifications over HTTP: validate, call the context, shape the reply.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { caller, type RequireAuth } from '../../http/auth.ts';
import { errors } from '../../http/schemas.ts';
import { idParams, listQuery, notification, notificationsPage } from './schemas.ts';
import * as notifications from './service.ts';

export interface NotificationsDeps {
  db: Db;
  events: EventBus;
  requireAuth: RequireAuth;
}

export const notificationsRoutes =
  ({ db, events, requireAuth }: NotificationsDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const authed = { preHandler: requireAuth, schema: { security: [{ bearer: [] }], tags: ['notifications'] } } as const;

    app.get(
      '/notifications',
      {
        ...authed,
        schema: {
          ...authed.schema,
          summary: 'Your notifications: unread first, then newest',
          querystring: listQuery,
          response: { 200: notificationsPage, ...errors(400, 401) },
        },
      },
      async (request) => {
        const { cursor, limit, unread } = request.query;
        return notifications.listNotifications(db, caller(request).user.id, { cursor, limit, unreadOnly: unread === 'true' });
      },
    );

    app.get(
      '/notifications/unread_count',
      {
        ...authed,
        schema: { ...authed.schema, summary: 'How many unread notifications you have', response: { 200: z.object({ count: z.number().int() }), ...errors(401) } },
      },
      async (request) => ({ count: await notifications.unreadCount(db, caller(request).user.id) }),
    );

    app.post(
      '/notifications/:id/read',
      {
        ...authed,
        schema: { ...authed.schema, summary: 'Mark one notification read', params: idParams, response: { 200: notification, ...errors(401, 404) } },
      },
      async (request) => notifications.markRead(db, events, caller(request).user.id, request.params.id),
    );

    app.post(
      '/notifications/read_all',
      {
        ...authed,
        schema: {
          ...authed.schema,
          summary: 'Mark all your notifications read (one statement)',
          response: { 200: z.object({ marked: z.number().int().describe('how many were unread') }), ...errors(401) },
        },
      },
      async (request) => ({ marked: await notifications.markAllRead(db, events, caller(request).user.id) }),
    );
  };
