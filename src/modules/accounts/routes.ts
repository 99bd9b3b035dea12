// Accounts and sessions over HTTP: validate, call the context, shape the reply.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { caller, type RequireAuth } from '../../http/auth.ts';
import type { RateLimits } from '../../http/rate-limit.ts';
import { errors, isoDate, noContent, uuid } from '../../http/schemas.ts';
import { listSessions, revokeSession, type RequestMeta, type SessionPolicy } from '../sessions/service.ts';
import { authResult, loginBody, me, passwordBody, publicUser, registerBody, updateMeBody, usernameParams } from './schemas.ts';
import * as accounts from './service.ts';

export interface AccountsDeps {
  db: Db;
  events: EventBus;
  sessions: SessionPolicy;
  requireAuth: RequireAuth;
  limits: RateLimits;
}

export function requestMeta(request: FastifyRequest): RequestMeta {
  const agent = request.headers['user-agent'];
  return { userAgent: typeof agent === 'string' ? agent : undefined, ip: request.ip };
}

const sessionView = z
  .object({
    id: uuid,
    user_agent: z.string().nullable(),
    ip_address: z.string().nullable(),
    last_active_at: isoDate,
    expires_at: isoDate,
    current: z.boolean(),
  })
  .meta({ id: 'Session' });

const loginName = (request: FastifyRequest) => {
  const login = (request.body as { login?: unknown } | undefined)?.login;
  return typeof login === 'string' ? login.trim().toLowerCase().slice(0, 254) : undefined;
};

export const accountsRoutes =
  ({ db, events, sessions, requireAuth, limits }: AccountsDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const authed = { preHandler: requireAuth, schema: { security: [{ bearer: [] }] } } as const;

    app.post(
      '/auth/register',
      {
        ...limits.auth((request) => {
          const email = (request.body as { email?: unknown } | undefined)?.email;
          return typeof email === 'string' ? email.trim().toLowerCase().slice(0, 254) : undefined;
        }),
        schema: { tags: ['accounts'], summary: 'Create an account', body: registerBody, response: { 201: authResult, ...errors(400, 413, 422, 429) } },
      },
      async (request, reply) => reply.code(201).send(await accounts.register(db, sessions, request.body, requestMeta(request))),
    );

    app.post(
      '/auth/login',
      {
        ...limits.auth(loginName),
        schema: { tags: ['accounts'], summary: 'Sign in with email or username', body: loginBody, response: { 200: authResult, ...errors(400, 401, 422, 429) } },
      },
      async (request) => accounts.login(db, sessions, request.body, requestMeta(request)),
    );

    app.post(
      '/auth/logout',
      { ...authed, schema: { ...authed.schema, tags: ['accounts'], summary: 'Revoke the current session', response: { 204: noContent, ...errors(401) } } },
      async (request, reply) => {
        const { user, sessionId } = caller(request);
        await accounts.logout(db, events, user.id, sessionId);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/auth/sessions',
      {
        ...authed,
        schema: {
          ...authed.schema,
          tags: ['accounts'],
          summary: "The caller's live sessions",
          response: { 200: z.object({ data: z.array(sessionView), next_cursor: z.null() }), ...errors(401) },
        },
      },
      async (request) => {
        const { user, sessionId } = caller(request);
        const rows = await listSessions(db, sessions, user.id, sessionId);
        return {
          data: rows.map((s) => ({ ...s, last_active_at: s.last_active_at.toISOString(), expires_at: s.expires_at.toISOString() })),
          next_cursor: null,
        };
      },
    );

    app.delete(
      '/auth/sessions/:id',
      {
        ...authed,
        schema: { ...authed.schema, tags: ['accounts'], summary: 'Revoke one of your sessions', params: z.object({ id: uuid }), response: { 204: noContent, ...errors(401, 404) } },
      },
      async (request, reply) => {
        await revokeSession(db, events, caller(request).user.id, request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/me',
      { ...authed, schema: { ...authed.schema, tags: ['accounts'], summary: 'The caller', response: { 200: me, ...errors(401) } } },
      async (request) => accounts.toMe(caller(request).user),
    );

    app.patch(
      '/me',
      {
        ...authed,
        schema: { ...authed.schema, tags: ['accounts'], summary: 'Edit your profile and status', body: updateMeBody, response: { 200: me, ...errors(400, 401, 422) } },
      },
      async (request) => accounts.updateProfile(db, events, caller(request).user.id, request.body),
    );

    app.post(
      '/me/password',
      {
        ...authed,
        schema: {
          ...authed.schema,
          tags: ['accounts'],
          summary: 'Change your password (revokes your other sessions)',
          body: passwordBody,
          response: { 204: noContent, ...errors(400, 401, 422) },
        },
      },
      async (request, reply) => {
        const { user, sessionId } = caller(request);
        await accounts.changePassword(db, events, user.id, sessionId, request.body);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/users/:username',
      { schema: { tags: ['accounts'], summary: 'Public profile', params: usernameParams, response: { 200: publicUser, ...errors(404) } } },
      async (request) => accounts.publicProfile(db, request.params.username),
    );
  };
