// Request and response shapes of the accounts API (they also feed the OpenAPI document).
import { z } from 'zod';
import { isoDate, uuid } from '../../http/schemas.ts';

export const userStatus = z.enum(['online', 'idle', 'dnd', 'offline']);

export const me = z
  .object({
    id: uuid,
    email: z.string().nullable(),
    username: z.string(),
    display_name: z.string().nullable(),
    avatar_url: z.string().nullable(),
    status: userStatus,
    custom_status: z.string().nullable(),
    wallet_address: z.string().nullable(),
    inserted_at: isoDate,
  })
  .meta({ id: 'Me' });

export const publicUser = z
  .object({
    id: uuid,
    username: z.string(),
    display_name: z.string().nullable(),
    avatar_url: z.string().nullable(),
    status: userStatus,
    custom_status: z.string().nullable(),
    inserted_at: isoDate,
  })
  .meta({ id: 'PublicUser' });

export const authResult = z.object({ user: me, token: z.string() }).meta({ id: 'AuthResult' });

// Generous outer bounds keep hostile bodies cheap; the changesets apply the real rules.
export const registerBody = z.object({
  email: z.string().max(1000).describe('an email address, at most 254 characters; unique, case-insensitive'),
  username: z.string().max(1000).describe('3–20 characters of a–z, 0–9 and _; unique'),
  password: z.string().max(1000).describe('8–256 characters'),
  display_name: z.string().max(1000).nullish().describe('at most 64 characters'),
});

export const loginBody = z.object({
  login: z.string().max(1000).describe('email or username'),
  password: z.string().max(1000),
});

export const updateMeBody = z.object({
  display_name: z.string().max(1000).nullish().describe('at most 64 characters; null or "" clears it'),
  avatar_url: z.string().max(4000).nullish().describe('an http(s) URL, at most 2048 characters'),
  status: z.string().max(100).nullish().describe('online, idle, dnd or offline'),
  custom_status: z.string().max(1000).nullish().describe('at most 128 characters'),
});

export const passwordBody = z.object({
  current_password: z.string().max(1000),
  new_password: z.string().max(1000).describe('8–256 characters'),
});

export const usernameParams = z.object({ username: z.string().max(100) });
