// Request and response shapes of the notifications API (they also feed the OpenAPI document).
import { z } from 'zod';
import { cursorQuery, isoDate, uuid } from '../../http/schemas.ts';

export const notification = z
  .object({
    id: uuid,
    type: z.string().describe('friend_request, friend_accepted, mention, reply, message, …'),
    data: z.record(z.string(), z.unknown()).describe('ids of what it is about (friendship_id, message_id, post_id, …)'),
    actor: z
      .object({ id: uuid, username: z.string(), display_name: z.string().nullable(), avatar_url: z.string().nullable() })
      .nullable()
      .describe('who caused it; null for system notifications and deleted users'),
    read: z.boolean(),
    read_at: isoDate.nullable(),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'Notification' });

export const notificationsPage = z.object({ data: z.array(notification), next_cursor: z.string().nullable() });

export const listQuery = cursorQuery.extend({
  unread: z.enum(['true', 'false']).optional().describe('true: unread notifications only'),
});

export const idParams = z.object({ id: uuid });
