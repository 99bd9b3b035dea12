// Rate limits on the endpoints that attract credential stuffing and sign-up abuse:
// per client IP and per account (the login name or wallet address), both configurable.
// 429 with Retry-After. With REDIS_URL the counters are shared by every node.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, RouteShorthandOptions } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { RateLimitedError } from '../lib/errors.ts';

export type LimitedRouteOptions = Pick<RouteShorthandOptions, 'config' | 'preHandler'>;
export type PerUserLimit = 'forumPosts' | 'forumVotes';

export interface RateLimits {
  /** Options for a route limited per IP and, when `accountOf` yields a key, per account. */
  auth(accountOf?: (request: FastifyRequest) => string | undefined): LimitedRouteOptions;
  /**
   * A preHandler to run after authentication: the limit `name` of the configuration
   * (RATE_LIMIT_FORUM_POSTS, …) per window per signed-in user (per IP for anyone else);
   * routes using the same name share one budget.
   */
  perUser(name: PerUserLimit): (request: FastifyRequest) => Promise<void>;
}

export async function registerRateLimits(
  app: FastifyInstance,
  config: Config,
  redis: Redis | undefined,
): Promise<RateLimits> {
  const { enabled, authPerIp, authPerAccount, windowMs } = config.rateLimit;
  if (!enabled) return { auth: () => ({}), perUser: () => async () => undefined };

  await app.register(rateLimit, {
    global: false,
    ...(redis ? { redis, nameSpace: 'cgraph-rl:' } : {}),
    errorResponseBuilder: (_request, context) => new RateLimitedError(Math.max(1, Math.ceil(context.ttl / 1000))),
  });
  return {
    auth(accountOf) {
      // A second counter for the same request: @fastify/rate-limit runs one limiter per
      // request, so the per-account check uses its lower-level createRateLimit instead.
      const check = accountOf
        ? app.createRateLimit({
            max: authPerAccount,
            timeWindow: windowMs,
            keyGenerator: (request) => `account:${accountOf(request) ?? `ip:${request.ip}`}`,
          })
        : undefined;
      const perAccount = check
        ? async (request: FastifyRequest) => {
            const result = await check(request);
            if (!result.isAllowed && result.isExceeded) throw new RateLimitedError(Math.max(1, result.ttlInSeconds));
          }
        : undefined;
      return {
        config: { rateLimit: { max: authPerIp, timeWindow: windowMs, keyGenerator: (request) => `ip:${request.ip}` } },
        ...(perAccount ? { preHandler: perAccount } : {}),
      };
    },
    perUser(name) {
      // createRateLimit, not route config: the route's limiter runs before authentication
      // has told who the caller is.
      const check = app.createRateLimit({
        max: config.rateLimit[name],
        timeWindow: windowMs,
        keyGenerator: (request) => `${name}:${request.auth ? `user:${request.auth.user.id}` : `ip:${request.ip}`}`,
      });
      return async (request) => {
        const result = await check(request);
        if (!result.isAllowed && result.isExceeded) throw new RateLimitedError(Math.max(1, result.ttlInSeconds));
      };
    },
  };
}
