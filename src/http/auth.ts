// Bearer-token authentication. `requireAuth` is a preHandler for routes that need a
// signed-in caller; it leaves `request.auth` set, or answers 401 `unauthorized`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.ts';
import type { SessionAuthenticator } from '../modules/sessions/authenticator.ts';
import type { Authenticated } from '../modules/sessions/service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    auth: Authenticated | undefined;
  }
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export type RequireAuth = (request: FastifyRequest) => Promise<void>;

export function registerAuth(app: FastifyInstance, authenticator: SessionAuthenticator): RequireAuth {
  app.decorateRequest('auth', undefined);
  return async (request) => {
    const token = bearerToken(request);
    const auth = token ? await authenticator.authenticate(token) : undefined;
    if (!auth) throw new AppError('unauthorized', 'a valid bearer token is required', 401);
    request.auth = auth;
  };
}

/** The signed-in caller of a route guarded by requireAuth. */
export function caller(request: FastifyRequest): Authenticated {
  if (!request.auth) throw new AppError('unauthorized', 'a valid bearer token is required', 401);
  return request.auth;
}
