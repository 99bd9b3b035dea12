// Request and response shapes of the friends and blocks API (they also feed the OpenAPI document).
import { z } from 'zod';
import { isoDate, uuid } from '../../http/schemas.ts';
import { publicUser } from '../accounts/schemas.ts';

export const friendship = z
  .object({
    id: uuid,
    status: z.enum(['pending', 'accepted']),
    direction: z.enum(['incoming', 'outgoing']).describe('outgoing: the caller asked; incoming: the other user did'),
    user: publicUser.describe('the other user'),
    requested_at: isoDate,
    accepted_at: isoDate.nullable(),
  })
  .meta({ id: 'Friendship' });

export const friendsPage = z.object({ data: z.array(friendship), next_cursor: z.string().nullable() });

export const friendRequests = z
  .object({ incoming: z.array(friendship), outgoing: z.array(friendship) })
  .meta({ id: 'FriendRequests', description: 'pending requests, newest first, at most 100 per direction' });

export const block = z.object({ user: publicUser, blocked_at: isoDate }).meta({ id: 'Block' });

export const blocksPage = z.object({ data: z.array(block), next_cursor: z.string().nullable() });

export const usernameBody = z.object({ username: z.string().max(100).describe('the other user’s username') });

export const idParams = z.object({ id: uuid });

export const userIdParams = z.object({ user_id: uuid });
